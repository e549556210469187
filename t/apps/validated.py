"""The suites' good-path apps wrapped in wsgiref.validate.validator, for
t/wsgi-validated.t.

The validator checks both sides of the interface: these apps are correct,
so an AssertionError from it (a 500 and a traceback in the error log) means
the server broke PEP 3333: an environ key missing or of the wrong type, a
CGI key that must not be there (HTTP_CONTENT_TYPE), wsgi.input or
wsgi.errors without their methods or returning the wrong types, a bad
start_response/write, iteration after close(), or a response iterable that
was never closed (reported when it is garbage collected, to stderr, which
is the error log).

The validator's warnings (WSGIWarning) are errors here, so that they fail
the request too instead of going by as a log line.
"""

import warnings
from wsgiref.validate import WSGIWarning, validator

import basic
import bodies
import streaming

warnings.simplefilter("error", WSGIWarning)

# t/apps/basic.py: the apps of the good path that set a Content-Type (the
# validator wants one in every start_response call but for 204 and 304;
# exc_info_replaces and errors lack one, echo calls read() without a size).
hello = validator(basic.hello)
paths = validator(basic.paths)
environ_json = validator(basic.environ_json)
one_key = validator(basic.one_key)
gen = validator(basic.gen)
empty_chunks = validator(basic.empty_chunks)
with_write = validator(basic.with_write)
status = validator(basic.status)  # for 204 and 304 only: the others have no Content-Type
headers = validator(basic.headers)
closing = validator(basic.closing)
server_header = validator(basic.server_header)
sys_path = validator(basic.sys_path)

# t/apps/bodies.py: every way of reading wsgi.input but read() without a
# size, which PEP 3333 does not promise (the validator refuses it).
digest = validator(bodies.digest)
lines = validator(bodies.lines)
rss = validator(bodies.rss)

# t/apps/streaming.py
big = validator(streaming.big)
big_length = validator(streaming.big_length)
big_write = validator(streaming.big_write)
held = validator(streaming.held)
held_write = validator(streaming.held_write)
endless = validator(streaming.endless)
held_counted = validator(streaming.held_counted)


# Paths of the server the apps above do not take, in validator-clean apps.

def _exc_info_replaces(environ, start_response):
    """start_response with exc_info, replacing headers not sent yet."""
    import sys
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "1")])
    try:
        raise KeyError("handled")
    except KeyError:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"replaced by the error page\n"]


def _echo(environ, start_response):
    """The body back, read in pieces of ?N bytes (default 8192)."""
    size = int(environ.get("QUERY_STRING") or "8192")
    inp = environ["wsgi.input"]
    pieces = []
    while True:
        piece = inp.read(size)
        if not piece:
            break
        pieces.append(piece)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return pieces


exc_info_replaces = validator(_exc_info_replaces)
echo = validator(_echo)
