"""Apps for t/wsgi-inline.t: what a request sees when `wsgi_inline on` calls
the app on nginx's event loop (the thread that started Python) rather than
on a thread of the pool."""
import threading


def where(environ, start_response):
    on_main = threading.current_thread() is threading.main_thread()
    body = "%s multithread=%s\n" % (
        "event-loop" if on_main else "pool-thread", environ["wsgi.multithread"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]


def big(environ, start_response):
    """4 MiB from a generator: more than the socket takes at once, so the
    write handler sends the rest after the app has returned."""
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    for i in range(64):
        yield bytes([65 + i % 26]) * 65536


def echo(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


def fail(environ, start_response):
    raise RuntimeError("inline boom")


class Closing:
    closed = 0

    def __init__(self):
        self.items = [b"first ", b"second\n"]

    def __iter__(self):
        return iter(self.items)

    def close(self):
        Closing.closed += 1


def closing(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return Closing()


def closed_count(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%d\n" % Closing.closed]


def threads(environ, start_response):
    """How many OS threads this nginx worker has."""
    import os
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%d\n" % len(os.listdir("/proc/self/task"))]
