"""Request bodies streamed to the app (wsgi_request_buffering off), for
t/wsgi-request-streaming.t.

The drivers are the uploading clients: they send a body piece by piece on a
raw socket, and check each step against what the app has read so far
(`progress`), so that "the app reads the body as it arrives" is an order of
events, not a timing.
"""

import hashlib
import socket
import subprocess
import threading
import time

from streaming import _connect, parse_responses

lock = threading.Lock()
progress = [0]
events = []
go = threading.Event()


def note(what):
    with lock:
        events.append(what)


def _reset():
    with lock:
        progress[0] = 0
        events.clear()
    go.clear()


def reader(environ, start_response):
    """Reads the body in 64 KiB pieces, noting its progress; with ?wait,
    stops after the first piece until the driver says go. Answers
    CONTENT_LENGTH, wsgi.input_terminated, how much it read and its
    sha256."""
    inp = environ["wsgi.input"]
    h = hashlib.sha256()
    wait = "wait" in environ.get("QUERY_STRING", "")
    while True:
        data = inp.read(65536)
        if not data:
            break
        h.update(data)
        with lock:
            progress[0] += len(data)
        if wait:
            go.wait(60)
            wait = False
    body = ("CONTENT_LENGTH=%s input_terminated=%s read=%d sha256=%s\n" % (
        environ.get("CONTENT_LENGTH", "<absent>"), environ.get("wsgi.input_terminated"),
        progress[0], h.hexdigest())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class Failing:
    """Reads the body inside the iteration; notes what its read raised,
    and its close()."""

    def __init__(self, inp):
        self.inp = inp

    def __iter__(self):
        try:
            while self.inp.read(65536):
                pass
        except OSError as e:
            note("read raised %s: %s" % (type(e).__name__, e))
            raise
        yield b"read it all\n"

    def close(self):
        note("close() ran")


def failing_reader(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Failing(environ["wsgi.input"])


def ignorer(environ, start_response):
    """Answers without reading the body."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "8")])
    return [b"ignored\n"]


def _piece(i, n=65536):
    return hashlib.sha256(b"%d" % i).digest() * (n // 32)


def _wait_progress(at_least, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with lock:
            if progress[0] >= at_least:
                return True
        time.sleep(0.005)
    return False


def _wait_events(n, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with lock:
            if len(events) >= n:
                return list(events)
        time.sleep(0.01)
    with lock:
        return list(events)


def _read_all(s):
    data = bytearray()
    try:
        while True:
            got = s.recv(65536)
            if not got:
                break
            data += got
    except OSError:
        pass
    return bytes(data)


def _answer(data):
    """The response in `data`, for a short text body: its status line, its
    body, and whether it was complete (see streaming.parse_responses)."""
    desc = parse_responses(data, ["GET"])[0]
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n")[0].decode("latin-1") if head else "(nothing)"
    if b"transfer-encoding: chunked" in head.lower():
        size, _, rest = body.partition(b"\r\n")
        body = rest[:int(size or b"0", 16)]
    complete = "complete" if desc.endswith("; complete") else "INCOMPLETE"
    return "%s; %s; %s" % (status, body.decode("latin-1").strip(), complete)


def _chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


def drive_early(environ, start_response):
    """GET /drive_early?PATH[&chunked][&wait=S]: uploads two 64 KiB pieces;
    the second only once the app has read the first. A server that calls
    the app only when the body is complete makes this wait in vain (S
    seconds, 10 by default)."""
    path, *opts = environ["QUERY_STRING"].split("&")
    chunked = "chunked" in opts
    wait = float(next((o[5:] for o in opts if o.startswith("wait=")), 10))
    _reset()
    a, b = _piece(1), _piece(2)
    expected = hashlib.sha256(a + b).hexdigest()
    s = _connect(environ)
    s.settimeout(30)
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % (len(a) + len(b))
    s.sendall(b"POST %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s\r\n\r\n" % (path.encode(), framing))
    s.sendall(_chunk(a) if chunked else a)
    early = _wait_progress(len(a), wait)
    s.sendall((_chunk(b) + b"0\r\n\r\n") if chunked else b)
    resp = _answer(_read_all(s)).replace(expected, "the expected sha256")
    s.close()
    body = ("the app read the first piece before the second was sent: %s\n%s\n" % (
        "yes" if early else "NO", resp)).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def drive_backpressure(environ, start_response):
    """GET /drive_backpressure?MIB: uploads MIB MiB to /reader?wait, which
    stops after its first 64 KiB until told to go on: the client must be
    held back (its sends stop being accepted) far short of the body, then
    the rest must arrive whole once the app reads on."""
    mib = int(environ["QUERY_STRING"])
    _reset()
    total = mib << 20
    piece = _piece(3, 1 << 20)
    expected = hashlib.sha256(piece * mib).hexdigest()
    s = _connect(environ, rcvbuf=None)
    s.sendall(b"POST /reader?wait HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
              b"Content-Length: %d\r\n\r\n" % total)
    s.setblocking(False)
    sent, stalled_since = 0, None
    deadline = time.monotonic() + 30
    while sent < total and time.monotonic() < deadline:
        try:
            sent += s.send(piece[sent % len(piece):])
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 1:
                break
            time.sleep(0.01)
    report = ["the client was held back while the app did not read: %s" % (
        "yes (well under the body)" if sent < total // 2 else "NO (%d of %d bytes sent)" % (sent, total))]
    with lock:
        report.append("the app had read one piece meanwhile: %s" % ("yes" if progress[0] == 65536 else "NO (%d)" % progress[0]))
    go.set()
    s.setblocking(True)
    s.settimeout(60)
    while sent < total:
        sent += s.send(piece[sent % len(piece):])
    resp = _answer(_read_all(s)).replace(expected, "the expected sha256")
    s.close()
    report.append(resp)
    body = ("\n".join(report) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def drive_failure(environ, start_response):
    """GET /drive_failure?PATH&HOW: starts a chunked upload to PATH and
    then, by HOW: `big` sends more than client_max_body_size; `stall`
    stops sending (client_body_timeout); `leave` closes the connection.
    Reports what the client got and what the app noted."""
    path, how = environ["QUERY_STRING"].split("&")
    _reset()
    s = _connect(environ)
    s.settimeout(30)
    s.sendall(b"POST %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n" % path.encode())
    s.sendall(_chunk(_piece(4)))
    _wait_progress(65536)
    answer = "(none: the client left)"
    if how == "big":
        try:
            for i in range(64):
                s.sendall(_chunk(_piece(5)))
        except OSError:
            pass
        answer = _answer(_read_all(s))
    elif how == "stall":
        answer = _answer(_read_all(s))
    s.close()
    noted = _wait_events(2)
    body = ("client got: %s\napp: %s\n" % (answer, "; ".join(noted))).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def drive_ignored(environ, start_response):
    """GET /drive_ignored: sends the head of a 1 MiB upload and 64 KiB of
    it to /ignorer, which answers without reading: the answer arrives
    whole, and the connection is closed (the rest of the body is not read)."""
    s = _connect(environ)
    s.settimeout(30)
    s.sendall(b"POST /ignorer HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1048576\r\n\r\n")
    s.sendall(_piece(6))
    resp = _answer(_read_all(s))
    s.close()
    body = (resp + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def drive_h2(environ, start_response):
    """GET /drive_h2: curl uploads 3 MiB from stdin over HTTP/2 (prior
    knowledge, so no length) to /reader on port H2_PORT (a wsgi_param)."""
    port = environ["H2_PORT"]
    data = _piece(7, 1 << 20) * 3
    out = subprocess.run(
        ["curl", "-s", "--http2-prior-knowledge", "-T", "-", "http://127.0.0.1:%s/reader" % port],
        input=data, capture_output=True, timeout=60)
    text = out.stdout.decode().replace(hashlib.sha256(data).hexdigest(), "the expected sha256")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [text.encode() or b"(curl failed)\n"]
