"""The app behind uWSGI in the upstream tests (and the side-by-side config):
routes by PATH_INFO's last segment so that it answers the same whether it is
mounted at SCRIPT_NAME or not."""

import hashlib
import os
import time


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    last = path.rstrip("/").rsplit("/", 1)[-1]
    query = environ.get("QUERY_STRING", "")
    if last == "hello":
        body = b"hello, world\n"
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    if last == "echo":
        data = environ["wsgi.input"].read()
        body = ("method=%s length=%s read=%d sha256=%s\n" % (
            environ["REQUEST_METHOD"], environ.get("CONTENT_LENGTH"), len(data),
            hashlib.sha256(data).hexdigest())).encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    if last == "big":
        n = int(query or 1048576)
        chunk = bytes(range(256)) * 256  # 64 KiB
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(n))])
        return (chunk[: min(len(chunk), n - i)] for i in range(0, n, len(chunk)))
    if last == "sleep":
        time.sleep(float(query or 3))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"slept\n"]
    if last == "drip":
        # ?FLAG&WAIT[&noaccel]: three lines; each after the first only once
        # the client has made FLAG.N, saying it has line N (WAIT seconds at
        # most): a proxy that holds line 1 back until more comes makes this
        # wait in vain. With "noaccel", X-Accel-Buffering: no.
        flag, wait, *opts = query.split("&")

        def lines():
            yield b"line 1\n"
            for n in (2, 3):
                deadline = time.time() + float(wait)
                while not os.path.exists("%s.%d" % (flag, n - 1)) and time.time() < deadline:
                    time.sleep(0.01)
                yield b"line %d\n" % n

        headers = [("Content-Type", "text/plain")]
        if "noaccel" in opts:
            headers.append(("X-Accel-Buffering", "no"))
        start_response("200 OK", headers)
        return lines()
    if last == "status":
        start_response("418 I'm a teapot", [("Content-Type", "text/plain"), ("X-Upstream", "yes")])
        return [b"teapot\n"]
    if last == "server":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [os.environ.get("UWSGI_SERVER_ID", "uwsgi").encode() + b"\n"]
    if last == "key":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [("%s=%s\n" % (query, environ.get(query, "<absent>"))).encode("latin-1")]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such path\n"]
