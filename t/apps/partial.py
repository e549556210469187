"""Responses that fail after they started, for t/wsgi-partial.t.

Each shape produces some body and then fails: what it produced must reach
the client, and then the connection must close without completing the
message (fewer bytes than Content-Length, or no last chunk), so that the
client can tell the response is cut. Whether the head, the data and the
failure reach nginx's event loop in one batch or in several depends on
thread timing, so the driver (`repeat`) asks for the same shape many times
on fresh connections and tallies what the client saw.
"""

import os
import tempfile
import time
import urllib.parse

from streaming import get_until_close, parse_responses


def _headers(environ, length):
    """Content-Type, and Content-Length `length` when the query has "length"."""
    headers = [("Content-Type", "text/plain")]
    if "length" in environ.get("QUERY_STRING", "").split(","):
        headers.append(("Content-Length", str(length)))
    return headers


def _pause(environ):
    """With "pause" in the query: let the event loop take what came so far
    before the failure, so that it arrives in a batch of its own."""
    if "pause" in environ.get("QUERY_STRING", "").split(","):
        time.sleep(0.05)


def list_short(environ, start_response):
    """A list body one byte shorter than its Content-Length."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10")])
    return [b"abcdefghi"]


def list_bad_item(environ, start_response):
    """A list whose second item is not bytes."""
    start_response("200 OK", _headers(environ, 100))
    return [b"first", "not bytes"]


def gen_bad_item(environ, start_response):
    """A generator whose second item is not bytes: the server stops and
    closes it, which throws GeneratorExit into it."""
    start_response("200 OK", _headers(environ, 100))
    try:
        yield b"first"
        _pause(environ)
        yield "not bytes"
    except GeneratorExit:
        print("partial: GeneratorExit reached the generator")
        raise


def gen_raises(environ, start_response):
    """A generator that raises after its first chunk."""
    start_response("200 OK", _headers(environ, 100))
    yield b"first"
    _pause(environ)
    raise RuntimeError("failed after the first chunk")


def write_short(environ, start_response):
    """write() of 8 bytes under a Content-Length of 9."""
    write = start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    write(b"12345678")
    _pause(environ)
    return []


def file_short(environ, start_response):
    """wsgi.file_wrapper over a 5-byte file, declared as 10 bytes."""
    fd, path = tempfile.mkstemp(prefix="ngx-wsgi-partial-")
    os.write(fd, b"12345")
    os.close(fd)
    f = open(path, "rb")
    os.unlink(path)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10")])
    return environ["wsgi.file_wrapper"](f)


class CloseRaises:
    """A complete body whose close() raises."""

    def __init__(self, chunks):
        self.chunks = chunks

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        raise RuntimeError("close() failed after a complete body")


def close_raises(environ, start_response):
    """Two chunks, complete (chunked, or with the exact Content-Length);
    then close() raises."""
    chunks = [b"complete ", b"body\n"]
    start_response("200 OK", _headers(environ, sum(map(len, chunks))))
    return CloseRaises(chunks)


def gen_close_raises(environ, start_response):
    """A generator that has sent all of its Content-Length and would yield
    more: the server stops, and the GeneratorExit it throws in makes the
    generator's cleanup raise."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])
    try:
        yield b"whole\n"
        yield b"beyond the length\n"
    finally:
        raise RuntimeError("cleanup failed in the generator")


def repeat(environ, start_response):
    """GET /repeat?N&/PATH: requests PATH N times, each on a new connection
    (HTTP/1.1, "Connection: close"), reads until the server closes it, and
    tallies the descriptions of what arrived (see parse_responses), most
    frequent first: "N x DESCRIPTION"."""
    n, _, path = environ["QUERY_STRING"].partition("&")
    path = urllib.parse.unquote(path)
    tally = {}
    for _ in range(int(n)):
        data, note = get_until_close(environ, path)
        seen = "; ".join(parse_responses(data, ["GET"])) + note
        tally[seen] = tally.get(seen, 0) + 1
    lines = ["%d x %s" % (count, seen) for seen, count in sorted(tally.items(), key=lambda kv: -kv[1])]
    body = ("\n".join(lines) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
