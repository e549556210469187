"""Apps that read the request body through wsgi.input, for t/wsgi-input.t
(and, wrapped in wsgiref.validate, t/wsgi-validated.t).

/digest?METHOD reads the whole body with one way of calling wsgi.input and
answers what it saw: the CONTENT_LENGTH it was given, how many bytes it
read and their sha256, whether every read call afterwards says "end of
body", and any call that broke its contract (a readline(size) longer than
size, a read(n) shorter than n before the end, ...). The suites compare
that report with one computed in Perl from the body they sent.
"""

import hashlib
import socket

PIECE = 65536


def _read_all(inp, method, arg, total, problems):
    """The body (of `total` bytes as declared), read with METHOD, as a list
    of the pieces returned; broken contracts are added to `problems`."""
    pieces = []
    if method == "read":
        pieces.append(inp.read())
    elif method == "read-1":
        pieces.append(inp.read(-1))
    elif method == "readn":
        # read(n) returns exactly n bytes until the end, then fewer, then b"".
        short = False
        while True:
            piece = inp.read(arg)
            if not isinstance(piece, bytes):
                problems.append("read(%d) returned %s" % (arg, type(piece).__name__))
                break
            if not piece:
                break
            if short:
                problems.append("read(%d) returned data after a short read" % arg)
            if len(piece) > arg:
                problems.append("read(%d) returned %d bytes" % (arg, len(piece)))
            if len(piece) < arg:
                short = True
            pieces.append(piece)
    elif method == "readline":
        while True:
            line = inp.readline()
            if not line:
                break
            if pieces and not pieces[-1].endswith(b"\n"):
                problems.append("readline() returned a line without a newline before the end")
            if b"\n" in line[:-1]:
                problems.append("readline() returned more than one line")
            pieces.append(line)
    elif method == "readline-size":
        # readline(size) honours size: at most size bytes, ending at the first
        # newline if there is one within them.
        done = 0
        while True:
            line = inp.readline(arg)
            if not line:
                break
            if len(line) > arg:
                problems.append("readline(%d) returned %d bytes" % (arg, len(line)))
            if b"\n" in line[:-1]:
                problems.append("readline(%d) went past a newline" % arg)
            done += len(line)
            if not line.endswith(b"\n") and len(line) < arg and done < total:
                problems.append("readline(%d) stopped early without a newline" % arg)
            pieces.append(line)
    elif method == "readlines":
        lines = inp.readlines()
        if not isinstance(lines, list):
            problems.append("readlines() returned %s" % type(lines).__name__)
        for line in lines[:-1]:
            if not line.endswith(b"\n") or b"\n" in line[:-1]:
                problems.append("readlines() returned a piece that is not one line")
                break
        pieces.extend(lines)
    elif method == "readlines-hint":
        # readlines(hint) stops once the lines read reach hint bytes: each
        # call returns at least hint bytes (except at the end) and no line
        # more than needed to get there.
        calls = done = 0
        while True:
            lines = inp.readlines(arg)
            if not lines:
                break
            calls += 1
            got = sum(len(x) for x in lines)
            before_last = got - len(lines[-1])
            if before_last >= arg:
                problems.append("readlines(%d) read on past the hint (%d bytes before its last line)" % (arg, before_last))
            pieces.extend(lines)
            done += got
            if got < arg and done < total:
                problems.append("readlines(%d) returned only %d bytes before the end" % (arg, got))
        if total > 2 * arg and calls < 2:
            problems.append("readlines(%d) returned the whole body in %d call(s)" % (arg, calls))
    elif method == "iter":
        for line in inp:
            if pieces and not pieces[-1].endswith(b"\n"):
                problems.append("iteration returned a line without a newline before the end")
            pieces.append(line)
    elif method == "mixed":
        # All the methods one after the other on the same stream: each one
        # goes on where the previous one stopped.
        pieces.append(inp.readline())
        pieces.append(inp.read(5))
        pieces.append(inp.readline(3))
        pieces.extend(inp.readlines(10))
        for line in inp:
            pieces.append(line)
            if len(pieces) > 8:
                break
        pieces.append(inp.read(7))
        pieces.append(inp.read(-1))
    elif method == "zero":
        # size 0 reads nothing; a hint of 0 or less is no limit
        for what, call in (("read(0)", lambda: inp.read(0)), ("readline(0)", lambda: inp.readline(0))):
            got = call()
            if got != b"":
                problems.append("%s returned %r" % (what, got[:20]))
        pieces.append(inp.readline(-1))
        pieces.extend(inp.readlines(0))
        pieces.extend(inp.readlines(-1))
    else:
        raise ValueError("unknown read method %r" % method)
    return pieces



def _at_end(inp):
    """Every way of reading says "end of body" (b"" or []) once it is all read."""
    bad = []
    for what, call in (
        ("read(1)", lambda: inp.read(1)),
        ("read(65536)", lambda: inp.read(65536)),
        ("read(-1)", lambda: inp.read(-1)),
        ("readline()", lambda: inp.readline()),
        ("readline(5)", lambda: inp.readline(5)),
    ):
        got = call()
        if got != b"":
            bad.append("%s=%r" % (what, got[:20]))
    if inp.readlines() != []:
        bad.append("readlines() not []")
    if list(inp) != []:
        bad.append("iteration not empty")
    return "ok" if not bad else "NOT AT END: " + ", ".join(bad)


def digest(environ, start_response):
    """POST /digest?METHOD[=ARG]: read the body with METHOD and report it."""
    print("bodies.digest called")
    query = environ.get("QUERY_STRING", "") or "read"
    method, _, arg = query.partition("=")
    arg = int(arg) if arg else None
    inp = environ["wsgi.input"]
    cl = environ.get("CONTENT_LENGTH", "")
    problems = []
    pieces = _read_all(inp, method, arg, int(cl) if cl else 0, problems)
    data = b"".join(pieces)
    eof = _at_end(inp)
    out = [
        "CONTENT_LENGTH=[%s]" % cl,
        "HTTP_TRANSFER_ENCODING=%s" % environ.get("HTTP_TRANSFER_ENCODING", "absent"),
        "wsgi.input_terminated=%r" % environ.get("wsgi.input_terminated"),
        "read=%d sha256=%s" % (len(data), hashlib.sha256(data).hexdigest()),
        "at end: %s" % eof,
    ]
    out.extend("problem: " + p for p in problems[:5])
    if len(problems) > 5:
        out.append("problem: ... %d in all" % len(problems))
    body = ("\n".join(out) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def lines(environ, start_response):
    """The body's lines as read by readline(size), one per output line,
    each as its length and repr: shows exactly where each call stopped."""
    size = int(environ.get("QUERY_STRING") or "-1")
    inp = environ["wsgi.input"]
    out = []
    while True:
        line = inp.readline(size) if size >= 0 else inp.readline()
        if not line:
            break
        out.append("%d %r" % (len(line), line))
    body = ("\n".join(out) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


# Memory ----------------------------------------------------------------

def _vm_hwm_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


baseline_hwm = [None]


def rss(environ, start_response):
    """Reads the body in 64 KiB pieces and reports how much the process's
    peak RSS grew: while reading, and since the first request of the same
    worker (which the suite sends with a tiny body to set the baseline).
    A body copied into memory, up front or as it is read, shows up as
    growth of about its size."""
    limit_kib = int(environ.get("QUERY_STRING") or "16384")
    start = _vm_hwm_kib()
    if baseline_hwm[0] is None:
        baseline_hwm[0] = start
    inp = environ["wsgi.input"]
    h = hashlib.sha256()
    n = 0
    biggest = 0
    while True:
        piece = inp.read(PIECE)
        if not piece:
            break
        biggest = max(biggest, len(piece))
        h.update(piece)
        n += len(piece)
    end = _vm_hwm_kib()
    during = end - start
    since = end - baseline_hwm[0]
    worst = max(during, since)
    body = "read=%d sha256=%s biggest piece=%d\npeak RSS growth within %d KiB: %s (while reading %d KiB, since the first request %d KiB)\n" % (
        n, h.hexdigest(), biggest, limit_kib, "yes" if worst < limit_kib else "NO", during, since)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]


# Expect: 100-continue ----------------------------------------------------

def _recv_until(sock, buf, marker):
    while marker not in buf:
        data = sock.recv(65536)
        if not data:
            break
        buf += data
    return buf


def expect_drive(environ, start_response):
    """GET /expect_drive?PATH&LENGTH: behaves as a careful client: sends the
    headers of a POST to PATH with "Expect: 100-continue" and no body, waits
    for the interim "100 Continue" (for at most 5 seconds) and only then
    sends LENGTH bytes of body. Answers the interim status it got, and the
    final response."""
    path, length = environ["QUERY_STRING"].split("&")
    length = int(length)
    body = (b"0123456789abcdef" * (length // 16 + 1))[:length]
    port = int(environ["SERVER_PORT"])
    report = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n"
                   "Expect: 100-continue\r\nConnection: close\r\n\r\n" % (path, length)).encode())
        try:
            buf = _recv_until(s, b"", b"\r\n\r\n")
        except socket.timeout:
            buf = b""
        interim, sep, rest = buf.partition(b"\r\n\r\n")
        report.append("interim: %s" % (interim.decode("latin-1") if sep else "none within 5 s"))
        if not interim.startswith(b"HTTP/1.1 100 "):
            # no interim response: the final one may have come instead
            rest = buf
        s.sendall(body)
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                rest += data
        except socket.timeout:
            report.append("(timed out reading the final response)")
    head, _, final_body = rest.partition(b"\r\n\r\n")
    report.append("final: %s" % head.split(b"\r\n")[0].decode("latin-1"))
    text = "\n".join(report) + "\n"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [text.encode(), final_body]
