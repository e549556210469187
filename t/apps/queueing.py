"""Waiting for a Python thread, for t/wsgi-queue.t.

The driver holds the worker's other thread itself: it starts /blocker, which
waits in the app until the driver releases it, so a request made meanwhile
can only wait in the queue. Only the driver releases the blocker, after it
has the queued request's answer: the outcome does not depend on timing.
"""

import threading
import time
import urllib.error
import urllib.request

from streaming import get_until_close, parse_responses

entered = threading.Event()
release = threading.Event()


def blocker(environ, start_response):
    entered.set()
    released = release.wait(30)
    body = b"blocker released\n" if released else b"blocker NOT released\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def sleepy(environ, start_response):
    time.sleep(0.01)
    body = b"slept\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _get(environ, path):
    data, note = get_until_close(environ, path, timeout=30)
    data += note.encode()
    return data


def drive_queue_timeout(environ, start_response):
    """GET /drive_queue_timeout?/PATH: while /blocker holds the other
    thread, asks for PATH, which can only wait for a thread; reports what
    PATH answered, then releases the blocker."""
    path = environ["QUERY_STRING"]
    entered.clear()
    release.clear()
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("blocker", _get(environ, "/blocker")))
    t.start()
    report = []
    try:
        if not entered.wait(10):
            report.append("the blocker did not start")
        report.append("%s: %s" % (path, parse_responses(_get(environ, path), ["GET"])[0]))
    finally:
        release.set()
        t.join(30)
    blocker_body = result.get("blocker", b"").partition(b"\r\n\r\n")[2]
    report.append("/blocker: %r" % blocker_body)
    body = ("\n".join(report) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def drive_burst(environ, start_response):
    """GET /drive_burst?N: N requests to /sleepy at once; tallies statuses."""
    n = int(environ["QUERY_STRING"])
    statuses = []
    lock = threading.Lock()

    def one():
        url = "http://127.0.0.1:%s/sleepy" % environ["SERVER_PORT"]
        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                st = r.status
        except urllib.error.HTTPError as e:
            st = e.code
        except Exception as e:  # reported in the body
            st = type(e).__name__
        with lock:
            statuses.append(st)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    tally = {}
    for st in statuses:
        tally[st] = tally.get(st, 0) + 1
    body = ("".join("%s: %d\n" % (k, v) for k, v in sorted(tally.items(), key=str))).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
