"""Proof that Python requests run in parallel on one nginx worker without
blocking its event loop.

/drive (on its own thread) fires four requests at /barrier at once. Each
/barrier request waits on a shared barrier for all four: they pass only if
four Python threads run them at the same time; with fewer threads, or an
event loop that blocks while Python runs, the barrier times out and the
request fails: getting requests two to four into Python while the first
waits there needs an event loop that kept running. While they run, /drive
also fetches a location nginx answers itself.
"""

import threading
import time
import urllib.request

barrier = threading.Barrier(4, timeout=10)
events = []
lock = threading.Lock()


def note(what):
    with lock:
        events.append(what)


def barrier_app(environ, start_response):
    barrier.wait()
    note("barrier passed")
    time.sleep(0.5)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"passed\n"]


def drive(environ, start_response):
    port = environ["SERVER_PORT"]
    base = "http://127.0.0.1:%s" % port
    results = []

    def fetch(path):
        try:
            with urllib.request.urlopen(base + path, timeout=20) as r:
                results.append((path, r.status, r.read().decode().strip()))
        except Exception as e:  # reported in the body
            results.append((path, "error", repr(e)))

    workers = [threading.Thread(target=fetch, args=("/barrier",)) for _ in range(4)]
    for w in workers:
        w.start()
    # Three of the four are stuck in barrier.wait() until the fourth comes:
    # give nginx's event loop this moment to serve something of its own.
    with urllib.request.urlopen(base + "/static", timeout=20) as r:
        note("static answered: " + r.read().decode().strip())
    for w in workers:
        w.join()
    passed = sum(1 for r in results if r[1] == 200)
    body = "passed=%d\n%s\n%s\n" % (passed, events[0] if events else "-", results)
    events.clear()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]


def outer(environ, start_response):
    """With one thread and no queue, a request made while this one runs
    must get 503 at once rather than wait."""
    port = environ["SERVER_PORT"]
    try:
        urllib.request.urlopen("http://127.0.0.1:%s/inner" % port, timeout=10)
        got = "inner answered 200"
    except urllib.error.HTTPError as e:
        got = "inner answered %d: %s" % (e.code, e.read().decode().strip())
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [got.encode() + b"\n"]


def outer_body(environ, start_response):
    """Like outer, reporting the inner response's status and body; the inner
    path is the query string."""
    port = environ["SERVER_PORT"]
    url = "http://127.0.0.1:%s%s" % (port, environ["QUERY_STRING"])
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            got = "%d %s" % (r.status, r.read().decode().strip())
    except urllib.error.HTTPError as e:
        got = "%d %s" % (e.code, e.read().decode().strip())
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [got.encode() + b"\n"]
