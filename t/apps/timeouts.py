"""Apps that stay too long in the app, for t/wsgi-timeout.t and
t/lifecycle-recycle.t (wsgi_request_timeout).

Each notes what happened to it in `events`, which /events reports, so that
a test can see that the thread came back and that close() ran.
"""

import threading
import time

import urllib.error
import urllib.request

from streaming import get_until_close, parse_responses

lock = threading.Lock()
events = []


def note(what):
    with lock:
        events.append(what)
    print("timeouts: " + what)


def spin(what):
    """A pure-Python busy loop that swallows every Exception: only a
    BaseException can end it."""
    n = 0
    try:
        while True:
            try:
                n += 1
            except Exception:
                pass
    except BaseException as e:
        note("%s: %s" % (what, type(e).__name__))
        raise


def busy(environ, start_response):
    """Loops before it answers."""
    spin("busy")


class Busy:
    """An iterable that loops before (or, with first=True, after) its first
    chunk; its close() is noted."""

    def __init__(self, first):
        self.first = first

    def __iter__(self):
        if self.first:
            yield b"first chunk\n"
        spin("busy iterator")
        yield b"never\n"

    def close(self):
        note("close() ran")


def busy_body(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Busy(first="first" in environ.get("QUERY_STRING", ""))


def sleeper(environ, start_response):
    """A blocking call that RequestTimeout cannot interrupt."""
    time.sleep(float(environ.get("QUERY_STRING") or 100))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"woke up\n"]


def quick(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]


def show_events(environ, start_response):
    """GET /events?N: waits (10 s at most) until N events are noted, then
    lists them in order, and forgets them."""
    n = int(environ.get("QUERY_STRING") or 0)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with lock:
            if len(events) >= n:
                break
        time.sleep(0.01)
    with lock:
        body = "".join(e + "\n" for e in events).encode()
        events.clear()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def drive_burst(environ, start_response):
    """GET /drive_burst?N&/A&/B: N requests to /A at once, then, when they
    are all answered, N to /B at once; the statuses of each round."""
    n, first, then = environ["QUERY_STRING"].split("&")
    n = int(n)
    base = "http://127.0.0.1:%s" % environ["SERVER_PORT"]

    def round_of(path):
        out = []

        def one():
            try:
                with urllib.request.urlopen(base + path, timeout=30) as r:
                    r.read()
                    st = r.status
            except urllib.error.HTTPError as e:
                st = e.code
            except Exception as e:  # reported in the body
                st = type(e).__name__
            with lock:
                out.append(str(st))

        threads = [threading.Thread(target=one) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        return " ".join(sorted(out))

    body = ("%s: %s\n%s: %s\n" % (first, round_of(first), then, round_of(then))).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def drive(environ, start_response):
    """GET /drive?N&/PATH: requests PATH (a new connection), describes what
    arrived (see streaming.parse_responses), then waits (10 s at most) for
    N events and lists them: all of it has happened when this answers."""
    n, path = environ["QUERY_STRING"].split("&", 1)
    data, note = get_until_close(environ, path, timeout=30)
    data += note.encode()
    seen = parse_responses(data, ["GET"])[0]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with lock:
            if len(events) >= int(n):
                break
        time.sleep(0.01)
    with lock:
        listed = ", ".join(events)
        events.clear()
    body = ("%s\nevents: %s\n" % (seen, listed)).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
