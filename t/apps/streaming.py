"""Streamed responses, for t/wsgi-streaming.t (and, wrapped in
wsgiref.validate, t/wsgi-validated.t).

Some things cannot be seen from a client that reads whole responses at its
own pace: whether a chunk left before the generator ended, whether the
generator was paused by a client that does not read, whether close() ran
after the client went away. The drive_* apps therefore act as the client
themselves: each opens a raw socket to the same nginx, talks to another
location of it, and answers what it observed. They share this module (and
so its globals) with the apps they drive: the suites run one nginx worker.
Drivers wait with timeouts only so that a failing server cannot hang a
test; no result depends on how long something took.
"""

import hashlib
import socket
import threading
import time
import urllib.parse
import urllib.request

CHUNK = 65536


def chunk(i):
    """The i-th 64 KiB chunk of the deterministic streams (Perl builds the
    same: sha256("$i") x 2048)."""
    return hashlib.sha256(b"%d" % i).digest() * (CHUNK // 32)


def big(environ, start_response):
    """GET /big[?N]: N (256) chunks of 64 KiB from a generator, chunked."""
    n = int(environ.get("QUERY_STRING") or "256")
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    for i in range(n):
        yield chunk(i)


def big_length(environ, start_response):
    """The same stream with its Content-Length declared up front."""
    n = int(environ.get("QUERY_STRING") or "256")
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(n * CHUNK))])
    for i in range(n):
        yield chunk(i)


def big_write(environ, start_response):
    """The same stream through the write() callable."""
    n = int(environ.get("QUERY_STRING") or "256")
    write = start_response("200 OK", [("Content-Type", "application/octet-stream")])
    for i in range(n):
        write(chunk(i))
    return []


def hello(environ, start_response):
    body = b"hello, world\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


# Chunks go out as they are produced --------------------------------------

released = threading.Event()


def held(environ, start_response):
    """Yields a first chunk, then waits until /release is requested (10 s at
    most) before the second and last one."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first chunk\n"
    ok = released.wait(10)
    yield b"second chunk: " + (b"released\n" if ok else b"not released within 10 s\n")


def held_write(environ, start_response):
    """The same through write(): PEP 3333 wants write()'s data on its way to
    the client before write() returns."""
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"first chunk\n")
    ok = released.wait(10)
    return [b"second chunk: " + (b"released\n" if ok else b"not released within 10 s\n")]


def release(environ, start_response):
    released.set()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"released\n"]


def _connect(environ, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        # before connect(): a fixed small window, no autotuning
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(5)
    s.connect(("127.0.0.1", int(environ["SERVER_PORT"])))
    return s


def get_until_close(environ, path, timeout=5):
    """GET PATH on a new connection ("Connection: close"): every byte until
    the server closes it, and a note of what went wrong, if anything."""
    s = _connect(environ)
    s.settimeout(timeout)
    data, note = b"", ""
    try:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % path.encode())
        while True:
            got = s.recv(65536)
            if not got:
                break
            data += got
    except socket.timeout:
        note = " (timed out: the server did not close the connection)"
    except ConnectionResetError:
        note = " (connection reset)"
    except OSError as e:
        note = " (%s)" % type(e).__name__
    finally:
        s.close()
    return data, note


def _get(environ, path):
    url = "http://127.0.0.1:%s%s" % (environ["SERVER_PORT"], path)
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def drive_held(environ, start_response):
    """GET /drive_held?/TARGET: requests TARGET (held or held_write), and
    requests /release only once the first chunk has arrived. A server that
    kept the chunk until the generator ended would make this client wait in
    vain for it (5 s), then release the app anyway."""
    target = environ.get("QUERY_STRING") or "/held"
    released.clear()
    report = []
    s = _connect(environ)
    buf = b""
    try:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % target.encode())
        try:
            while b"first chunk\n" not in buf:
                data = s.recv(65536)
                if not data:
                    break
                buf += data
            if b"first chunk\n" in buf:
                report.append("the first chunk arrived while the app was still waiting: %s"
                              % ("yes" if not released.is_set() else "NO"))
            else:
                report.append("the connection closed before the first chunk")
        except socket.timeout:
            report.append("the first chunk did NOT arrive within 5 s")
        report.append("/release: %s" % _get(environ, "/release").decode().strip())
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                buf += data
        except socket.timeout:
            report.append("timed out reading the rest")
    finally:
        s.close()
    resp = parse_responses(buf, ["GET"])
    report.extend(resp)
    body = ("\n".join(report) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


# Client disconnects and slow clients -------------------------------------

produced = [0]
closed = threading.Event()
lock = threading.Lock()


class Endless:
    """Up to N (16384: 1 GiB) chunks of 64 KiB; counts what it produced in
    `produced`; close() logs and sets `closed`."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        for i in range(self.n):
            with lock:
                produced[0] = i + 1
            yield chunk(i % 256)

    def close(self):
        print("streaming: close() called after %d of %d chunks" % (produced[0], self.n))
        closed.set()


def endless(environ, start_response):
    n = int(environ.get("QUERY_STRING") or "16384")
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return Endless(n)


def _reset():
    with lock:
        produced[0] = 0
    closed.clear()


def _read_at_least(s, n):
    got = 0
    while got < n:
        data = s.recv(65536)
        if not data:
            break
        got += len(data)
    return got


def drive_disconnect(environ, start_response):
    """GET /drive_disconnect?/TARGET: reads 1 MiB of TARGET (an endless
    stream), hangs up, and reports whether the app's iteration stopped and
    its close() ran (waiting 10 s at most for it)."""
    target = environ.get("QUERY_STRING") or "/endless"
    _reset()
    s = _connect(environ)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % target.encode())
    got = _read_at_least(s, 1 << 20)
    s.close()
    was_closed = closed.wait(10)
    n = produced[0]
    report = [
        "read before hanging up: %s" % ("1 MiB" if got >= 1 << 20 else "%d bytes" % got),
        "close() called: %s" % ("yes" if was_closed else "NO (not within 10 s)"),
        "iteration stopped early: %s" % ("yes" if 0 < n < 16384 else "NO (%d chunks)" % n),
    ]
    body = ("\n".join(report) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def drive_disconnect_idle(environ, start_response):
    """GET /drive_disconnect_idle?/TARGET: the client hangs up while the app
    waits between two chunks (TARGET is held): once it goes on, its next
    chunk cannot be delivered, and close() must run."""
    target = environ.get("QUERY_STRING") or "/held_counted"
    released.clear()
    _reset()
    s = _connect(environ)
    buf = b""
    s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % target.encode())
    try:
        while b"first chunk\n" not in buf:
            data = s.recv(65536)
            if not data:
                break
            buf += data
    except socket.timeout:
        pass
    s.close()
    # give nginx the moment it needs to see the hang-up before the app goes
    # on; if it has not seen it yet, the app's writes still fail later
    time.sleep(0.2)
    released.set()
    was_closed = closed.wait(10)
    n = produced[0]
    report = [
        "first chunk read: %s" % ("yes" if b"first chunk\n" in buf else "NO"),
        "close() called: %s" % ("yes" if was_closed else "NO (not within 10 s)"),
        "iteration stopped early: %s" % ("yes" if n < 1000 else "NO (%d chunks)" % n),
    ]
    body = ("\n".join(report) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


class HeldCounted:
    """A first chunk, a wait on `released`, then up to 1000 chunks of 64 KiB."""

    def __iter__(self):
        yield b"first chunk\n"
        released.wait(10)
        for i in range(1000):
            with lock:
                produced[0] = i + 1
            yield chunk(i % 256)

    def close(self):
        print("streaming: close() called after %d of 1000 chunks" % produced[0])
        closed.set()


def held_counted(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return HeldCounted()


def drive_slow(environ, start_response):
    """GET /drive_slow?/TARGET: a client that reads 64 KiB of TARGET (1 GiB
    from an endless stream) and then stops reading. The app must be paused
    by backpressure: the number of chunks it produced settles (no change for
    1 s) far below the 1 GiB it would produce into memory otherwise (the
    bound, 64 MiB, leaves room for the socket buffers on the way). Then the
    client reads 4 MiB more (the app must go on), and hangs up (close() must
    run)."""
    target = environ.get("QUERY_STRING") or "/endless"
    bound = 1024  # chunks: 64 MiB
    _reset()
    s = _connect(environ, rcvbuf=16384)
    report = []
    try:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % target.encode())
        _read_at_least(s, 65536)
        last, same, settled = -1, 0, None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.1)
            n = produced[0]
            if n > bound:
                settled = n
                break
            if n == last:
                same += 1
                if same >= 10:
                    settled = n
                    break
            else:
                last, same = n, 0
        if settled is None:
            report.append("paused: NO (still producing after 30 s, %d chunks)" % produced[0])
        elif settled > bound:
            report.append("paused: NO (%d chunks produced for a client that read 64 KiB)" % settled)
        else:
            report.append("paused: yes (well under 64 MiB ahead of the client)")
            print("streaming: paused after %d chunks" % settled)
        before = produced[0]
        _read_at_least(s, 4 << 20)
        report.append("goes on once the client reads: %s" % ("yes" if produced[0] > before else "NO"))
    finally:
        s.close()
    was_closed = closed.wait(10)
    report.append("close() called after the hang-up: %s" % ("yes" if was_closed else "NO"))
    body = ("\n".join(report) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


# Responses without a body, and broken ones --------------------------------

def nobody(environ, start_response):
    """GET /nobody?NNN: status NNN (204, 304 or 200), and a body from a
    generator all the same: for 204, 304 and HEAD the server must not send
    it."""
    code = environ.get("QUERY_STRING") or "204"
    reason = {"200": "OK", "204": "No Content", "304": "Not Modified"}[code]
    headers = [("X-Status", code)]
    if code == "200":
        headers.append(("Content-Type", "text/plain"))
    start_response("%s %s" % (code, reason), headers)
    yield b"a body that must not be sent\n"
    yield b"and more of it\n"


def fails_midway(environ, start_response):
    """Sends 64 KiB + 9 bytes (chunked, or with Content-Length given as
    ?length), then raises."""
    headers = [("Content-Type", "application/octet-stream")]
    if environ.get("QUERY_STRING") == "length":
        headers.append(("Content-Length", str(4 * CHUNK)))
    start_response("200 OK", headers)
    yield chunk(0)
    yield b"then boom"
    raise RuntimeError("failed midway through the body")


def parse_responses(data, methods):
    """Parse the HTTP/1.x responses in `data`, answers to requests made with
    `methods`, and describe each: status line, framing, body size (and the
    body itself if short, its sha256 if not), completeness; then the bytes
    left over."""
    out = []
    pos = 0
    for i, method in enumerate(methods, 1):
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            out.append("%d: no complete header (%d bytes left: %r)" % (i, len(data) - pos, data[pos:pos + 60]))
            return out
        head = data[pos:end].decode("latin-1").split("\r\n")
        status = head[0]
        hdrs = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        pos = end + 4
        code = int(status.split()[1]) if len(status.split()) > 1 and status.split()[1].isdigit() else 0
        body = b""
        if method == "HEAD" or code in (204, 304) or 100 <= code < 200:
            framing, complete = "none", True
        elif "chunked" in hdrs.get("transfer-encoding", ""):
            framing, complete = "chunked", False
            while True:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    break
                try:
                    size = int(data[pos:eol].split(b";")[0], 16)
                except ValueError:
                    break
                if size == 0:
                    if data[eol + 2:eol + 4] == b"\r\n":
                        pos = eol + 4
                        complete = True
                    break
                if len(data) < eol + 2 + size + 2:
                    body += data[eol + 2:eol + 2 + size]
                    pos = len(data)
                    break
                body += data[eol + 2:eol + 2 + size]
                pos = eol + 2 + size + 2
            if not complete:
                pos = len(data)
        elif "content-length" in hdrs:
            n = int(hdrs["content-length"])
            body = data[pos:pos + n]
            framing, complete = "Content-Length %d" % n, len(body) == n
            pos += len(body)
        else:
            framing, complete = "close-delimited", True
            body = data[pos:]
            pos = len(data)
        shown = repr(body) if len(body) <= 64 else "sha256 %s" % hashlib.sha256(body).hexdigest()
        out.append("%d: %s; body: %s, %d bytes%s; %s" % (
            i, status, framing, len(body), ": " + shown if body else "",
            "complete" if complete else "INCOMPLETE"))
    out.append("bytes after the responses: %d" % (len(data) - pos))
    return out


def pipeline(environ, start_response):
    """GET /pipeline?METHOD%20PATH[%20VERSION]|...: sends those requests on
    one connection, all at once (the last with "Connection: close"), reads
    until the server closes it, and describes the responses (see
    parse_responses): a body sent where none belongs, or a missing last
    chunk, shows."""
    reqs = [urllib.parse.unquote(r).split() for r in environ["QUERY_STRING"].split("|")]
    raw = b""
    for i, r in enumerate(reqs):
        method, path = r[0], r[1]
        version = r[2] if len(r) > 2 else "HTTP/1.1"
        conn = "close" if i == len(reqs) - 1 else "keep-alive"
        raw += ("%s %s %s\r\nHost: localhost\r\nConnection: %s\r\n\r\n" % (method, path, version, conn)).encode()
    s = _connect(environ)
    data = b""
    note = []
    try:
        s.sendall(raw)
        while True:
            got = s.recv(65536)
            if not got:
                break
            data += got
    except socket.timeout:
        note.append("(timed out waiting for the server to close the connection)")
    except ConnectionResetError:
        note.append("(connection reset)")
    finally:
        s.close()
    report = parse_responses(data, [r[0] for r in reqs]) + note
    body = ("\n".join(report) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
