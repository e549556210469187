"""WSGI apps for the t/ suites. Each callable is small and shows one thing."""

import json
import sys


def hello(environ, start_response):
    body = b"hello, world\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def paths(environ, start_response):
    body = "SCRIPT_NAME=[%s] PATH_INFO=[%s]\n" % (environ["SCRIPT_NAME"], environ["PATH_INFO"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode("latin-1")]


def environ_json(environ, start_response):
    """The environ's str values as JSON (latin-1 code points kept), plus the
    types of the wsgi.* keys."""
    out = {}
    for k, v in environ.items():
        if isinstance(v, str):
            out[k] = v
        elif k.startswith("wsgi."):
            out[k] = repr(v) if not hasattr(v, "read") and not hasattr(v, "write") else type(v).__name__
    out["_non_str_cgi"] = sorted(k for k, v in environ.items() if not k.startswith("wsgi.") and not isinstance(v, str))
    body = json.dumps(out, sort_keys=True, ensure_ascii=True).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def one_key(environ, start_response):
    """GET /?KEY answers KEY's value, or <absent>."""
    key = environ["QUERY_STRING"]
    value = environ.get(key, "<absent>")
    start_response("200 OK", [("Content-Type", "text/plain; charset=latin-1")])
    return [("%s=%s\n" % (key, value)).encode("latin-1")]


def echo(environ, start_response):
    """The request body, read through wsgi.input, and its declared length."""
    data = environ["wsgi.input"].read()
    head = "CONTENT_LENGTH=[%s] read=%d\n" % (environ.get("CONTENT_LENGTH"), len(data))
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [head.encode(), data]


def errors(environ, start_response):
    environ["wsgi.errors"].write("a line to wsgi.errors\n")
    print("a line printed to stdout")
    start_response("200 OK", [])
    return [b"logged\n"]


def gen(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    for i in range(3):
        yield b"chunk %d\n" % i


def empty_chunks(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"", b"a", b"", b"b\n", b""]


def with_write(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    return [b"then returned\n"]


def status(environ, start_response):
    """GET /?NNN Reason: that status, with no body for 204/304."""
    from urllib.parse import unquote
    st = unquote(environ["QUERY_STRING"])
    start_response(st, [("X-Status", st)])
    return [] if st[:3] in ("204", "304") else [b"status body\n"]


def headers(environ, start_response):
    start_response("201 Created", [
        ("Content-Type", "text/x-custom"),
        ("X-One", "1"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("Location", "/elsewhere"),
    ])
    return [b"created\n"]


# Failures -----------------------------------------------------------------

def raises(environ, start_response):
    raise ValueError("the app failed on purpose")


def raises_after_headers(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first part\n"
    raise RuntimeError("failed after the headers went out")


def tuple_headers(environ, start_response):
    start_response("200 OK", (("Content-Type", "text/plain"),))
    return [b"never sent\n"]


def bad_status(environ, start_response):
    start_response("200", [])
    return [b"never sent\n"]


def informational_status(environ, start_response):
    """?STATUS: a 1xx as the final status ("101 Switching Protocols")."""
    from urllib.parse import unquote
    start_response(unquote(environ["QUERY_STRING"]), [])
    return [b"never sent\n"]


def crlf_header(environ, start_response):
    start_response("200 OK", [("X-Evil", "a\r\nSet-Cookie: injected=1")])
    return [b"never sent\n"]


def hop_by_hop(environ, start_response):
    start_response("200 OK", [("Connection", "close")])
    return [b"never sent\n"]


def str_body(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["a str, not bytes\n"]


def no_start_response(environ, start_response):
    return [b"body without start_response\n"]


def twice(environ, start_response):
    start_response("200 OK", [])
    start_response("500 Oops", [])
    return [b"never sent\n"]


def exc_info_replaces(environ, start_response):
    start_response("200 OK", [("X-First", "1")])
    try:
        raise KeyError("handled")
    except KeyError:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"replaced by the error page\n"]


def short_body(environ, start_response):
    start_response("200 OK", [("Content-Length", "100")])
    return [b"only a few bytes\n"]


def long_body(environ, start_response):
    start_response("200 OK", [("Content-Length", "5")])
    return [b"12345", b"6789 too much\n"]


class ClosingBody:
    """An iterable whose close() leaves a mark in the error log."""

    def __init__(self, environ, fail):
        self.errors = environ["wsgi.errors"]
        self.fail = fail

    def __iter__(self):
        yield b"part one\n"
        if self.fail:
            raise RuntimeError("iteration failed")
        yield b"part two\n"

    def close(self):
        self.errors.write("close() was called\n")
        self.errors.flush()


def closing(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ClosingBody(environ, fail=False)


def closing_fails(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ClosingBody(environ, fail=True)


not_callable = "a string is not a WSGI application"


def server_header(environ, start_response):
    start_response("200 OK", [("Server", "my-app/1.0"), ("Content-Type", "text/plain")])
    return [b"ok\n"]


def sys_path(environ, start_response):
    """sys.path entries that are not the interpreter's own."""
    entries = [p for p in sys.path if "python3" not in p and p]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("\n".join(entries) + "\n").encode()]


def file_wrapper(environ, start_response):
    """The file named by the FILE_PATH param through wsgi.file_wrapper;
    ?skip=N reads N bytes first (the body starts at tell()), ?cl=N sets
    Content-Length, ?noread makes read() fail so that only a server that
    hands the descriptor to nginx can send it."""
    from urllib.parse import parse_qs
    import io
    q = parse_qs(environ["QUERY_STRING"], keep_blank_values=True)

    class NoRead(io.FileIO):
        def read(self, *args):
            raise AssertionError("read() called: the server iterated instead of sending the file")

    f = NoRead(environ["FILE_PATH"], "rb") if "noread" in q else open(environ["FILE_PATH"], "rb")
    if "skip" in q:
        f.seek(int(q["skip"][0]))
    headers = [("Content-Type", "application/octet-stream")]
    if "cl" in q:
        headers.append(("Content-Length", q["cl"][0]))
    start_response("200 OK", headers)
    return environ["wsgi.file_wrapper"](f, 4096)


class Blocks:
    """A file-like without fileno(): file_wrapper iterates it."""

    def __init__(self, errors):
        self.left = [b"block one\n", b"block two\n"]
        self.errors = errors

    def read(self, size):
        return self.left.pop(0) if self.left else b""

    def close(self):
        self.errors.write("Blocks.close() was called\n")


def file_wrapper_filelike(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return environ["wsgi.file_wrapper"](Blocks(environ["wsgi.errors"]), 4)
