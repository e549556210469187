"""ASGI HTTP apps, for t/asgi-http.t (asgi_app).

The WSGI drivers of streaming.py and partial.py act as the client for what
a client reading whole responses cannot see (a chunk that leaves before the
app is done, a client that stops reading or hangs up): these ASGI apps keep
the same counters (streaming.produced, streaming.closed, streaming.released)
so that those drivers can report on them. They never block the loop: a wait
on a threading.Event is a poll with asyncio.sleep.
"""

import asyncio
import hashlib
import json
import os
import tempfile

import streaming
from streaming import CHUNK, chunk


async def start(send, status=200, headers=(), length=None):
    headers = [(k.encode(), v.encode()) for k, v in headers]
    if length is not None:
        headers.append((b"content-length", b"%d" % length))
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def text(send, body, status=200):
    body = body.encode()
    await start(send, status, [("content-type", "text/plain")], len(body))
    await send({"type": "http.response.body", "body": body})


async def read_body(receive):
    """The whole body, and the number of http.request messages it came in."""
    body, messages = b"", 0
    while True:
        m = await receive()
        assert m["type"] == "http.request", m
        messages += 1
        body += m.get("body", b"")
        if not m.get("more_body"):
            return body, messages


def plain(v):
    """A scope's value for JSON: bytes as latin-1 strings, in lists and
    dicts too (also for asgi_ws)."""
    if isinstance(v, bytes):
        return v.decode("latin-1")
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    return v


async def scope(scope, receive, send):
    """The scope as JSON: bytes as latin-1 strings, the ports as "int" (the
    client's varies)."""
    out = plain(dict(scope))
    out["client"] = [out["client"][0], type(scope["client"][1]).__name__]
    out["server"] = [out["server"][0], type(scope["server"][1]).__name__]
    out["headers"] = [h for h in out["headers"] if h[0] not in ("user-agent",)]
    await text(send, json.dumps(out, sort_keys=True, indent=1) + "\n")


async def echo(scope, receive, send):
    """POST: how the body arrived."""
    body, messages = await read_body(receive)
    await text(send, "%d bytes in %d messages, sha256 %s\n" % (
        len(body), messages, hashlib.sha256(body).hexdigest()[:16]))


async def headers(scope, receive, send):
    """GET /headers?STATUS: that status, two Set-Cookie, a custom header,
    and a body (which nginx drops for HEAD, 204 and 304)."""
    status = int(scope["query_string"] or b"200")
    await start(send, status, [("set-cookie", "a=1"), ("set-cookie", "b=2"),
                               ("x-custom", "yes"), ("content-type", "text/plain")])
    await send({"type": "http.response.body", "body": b"a body\n"})


async def held(scope, receive, send):
    """A first chunk, then (once /release was requested, 10 s at most) the
    second and last one."""
    await start(send, 200, [("content-type", "text/plain")])
    await send({"type": "http.response.body", "body": b"first chunk\n", "more_body": True})
    for _ in range(1000):
        if streaming.released.is_set():
            break
        await asyncio.sleep(0.01)
    ok = streaming.released.is_set()
    await send({"type": "http.response.body",
                "body": b"second chunk: " + (b"released\n" if ok else b"not released within 10 s\n")})


async def head_first(scope, receive, send):
    """The head, then (once /release was requested, 10 s at most) the body."""
    await start(send, 200, [("content-type", "text/plain")])
    for _ in range(1000):
        if streaming.released.is_set():
            break
        await asyncio.sleep(0.01)
    await send({"type": "http.response.body", "body": b"released\n"})


def drive_head_first(environ, start_response):
    """(WSGI) GET /drive_head_first: requests /head_first, and /release
    only once the head has arrived. A server that held the head back until
    the body would make this client wait in vain for it (5 s)."""
    streaming.released.clear()
    report = []
    s = streaming._connect(environ)
    buf = b""
    try:
        s.sendall(b"GET /head_first HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        try:
            while b"\r\n\r\n" not in buf:
                data = s.recv(65536)
                if not data:
                    break
                buf += data
            report.append("the head arrived while the app was still waiting: %s"
                          % ("yes" if not streaming.released.is_set() else "NO"))
        except OSError:
            report.append("the head did NOT arrive within 5 s")
        report.append("/release: %s" % streaming._get(environ, "/release").decode().strip())
        while True:
            data = s.recv(65536)
            if not data:
                break
            buf += data
    finally:
        s.close()
    report.extend(streaming.parse_responses(buf, ["GET"]))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("\n".join(report) + "\n").encode()]


async def endless(scope, receive, send):
    """Up to N (16384: 1 GiB) chunks of 64 KiB, counted in
    streaming.produced; its end, however it comes, sets streaming.closed."""
    n = int(scope["query_string"] or b"16384")
    try:
        await start(send, 200, [("content-type", "application/octet-stream")])
        for i in range(n):
            with streaming.lock:
                streaming.produced[0] = i + 1
            await send({"type": "http.response.body", "body": chunk(i % 256), "more_body": True})
        await send({"type": "http.response.body"})
    except OSError as e:
        print("asgi_http: endless: send raised %s (an OSError) after %d chunks"
              % (type(e).__name__, streaming.produced[0]))
    finally:
        streaming.closed.set()


async def held_counted(scope, receive, send):
    """A first chunk; once released, up to 1000 chunks of 64 KiB. What the
    app sees of a client that hung up meanwhile is logged."""
    try:
        await read_body(receive)
        await start(send, 200, [("content-type", "application/octet-stream")])
        await send({"type": "http.response.body", "body": b"first chunk\n", "more_body": True})
        message = await receive()
        print("asgi_http: held_counted: receive() gave %s" % message["type"])
        for _ in range(1000):
            if streaming.released.is_set():
                break
            await asyncio.sleep(0.01)
        for i in range(1000):
            with streaming.lock:
                streaming.produced[0] = i + 1
            await send({"type": "http.response.body", "body": chunk(i % 256), "more_body": True})
    except OSError as e:
        print("asgi_http: held_counted: send raised %s, an OSError: %s"
              % (type(e).__name__, isinstance(e, OSError)))
    finally:
        streaming.closed.set()


async def fails_before(scope, receive, send):
    raise ValueError("failed before the response started")


async def fails_midway(scope, receive, send):
    """64 KiB + 9 bytes (chunked, or with a content-length of 256 KiB given
    as ?length), then it raises."""
    length = 4 * CHUNK if scope["query_string"] == b"length" else None
    await start(send, 200, [("content-type", "application/octet-stream")], length)
    await send({"type": "http.response.body", "body": chunk(0), "more_body": True})
    await send({"type": "http.response.body", "body": b"then boom", "more_body": True})
    raise RuntimeError("failed midway through the body")


async def no_response(scope, receive, send):
    return None


async def unended(scope, receive, send):
    await start(send, 200, [("content-type", "text/plain")])
    await send({"type": "http.response.body", "body": b"part", "more_body": True})


async def cl_short(scope, receive, send):
    await start(send, 200, [("content-type", "text/plain")], 10)
    await send({"type": "http.response.body", "body": b"012"})


async def cl_long(scope, receive, send):
    await start(send, 200, [("content-type", "text/plain")], 10)
    await send({"type": "http.response.body", "body": b"0123456789 and more"})


async def bad_header(scope, receive, send):
    """A header value with CR LF: refused by send(), which the app sees."""
    try:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"x-injected", b"a\r\nSet-Cookie: evil=1")]})
    except ValueError as e:
        print("asgi_http: bad_header: send() raised ValueError: %s" % e)
        raise


async def escapes(scope, receive, send):
    """A task of the app's own raises SystemExit, which asyncio lets out of
    the loop; then (on the loop again) the app answers."""
    async def background():
        raise SystemExit("from a background task")
    asyncio.get_running_loop().create_task(background())
    await asyncio.sleep(0.2)
    await text(send, "the loop runs on\n")


async def informational(scope, receive, send):
    """?CODE: http.response.start with a 1xx status (101 among them, which
    only an accepted WebSocket gets from the server): refused by send()."""
    code = int(scope["query_string"] or b"101")
    try:
        await send({"type": "http.response.start", "status": code})
    except ValueError as e:
        print("asgi_http: informational: send() raised ValueError: %s" % e)
        raise


async def bad_message(scope, receive, send):
    await send({"type": "http.response.start", "status": 200})
    await send({"type": "http.response.body", "body": "a str, not bytes"})


async def after_end(scope, receive, send):
    """Sends after the response is complete: send() raises, the client has
    its response all the same."""
    await text(send, "complete\n")
    try:
        await send({"type": "http.response.body", "body": b"more"})
    except RuntimeError as e:
        print("asgi_http: after_end: send() raised RuntimeError: %s" % e)


async def after_response(scope, receive, send):
    """Work after the response (as Starlette's background tasks): the
    client has its response at once; then receive() gives http.disconnect."""
    await text(send, "answered\n")
    message = await asyncio.wait_for(receive(), 10)
    print("asgi_http: after_response: receive() gave %s" % message["type"])


async def pathsend(scope, receive, send):
    """http.response.pathsend of a file of 18000 bytes."""
    fd, path = tempfile.mkstemp(prefix="asgi-pathsend-")
    with os.fdopen(fd, "wb") as f:
        f.write(b"pathsend contents\n" * 1000)
    await start(send, 200, [("content-type", "text/plain")], 18000)
    await send({"type": "http.response.pathsend", "path": path})
    os.unlink(path)


async def sleeper(scope, receive, send):
    """Sleeps (100 s); a cancellation is logged, and ends it."""
    try:
        await asyncio.sleep(float(scope["query_string"] or b"100"))
    except asyncio.CancelledError:
        print("asgi_http: sleeper: cancelled")
        raise
    await text(send, "woke up\n")


async def stubborn(scope, receive, send):
    """Swallows every cancellation: only the worker's recycling ends it."""
    for _ in range(200):
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            print("asgi_http: stubborn: cancelled, and goes on")
    await text(send, "stubborn\n")


async def quick(scope, receive, send):
    await text(send, "ok\n")


async def pid(scope, receive, send):
    await text(send, "%d\n" % os.getpid())


def drive_recycle(environ, start_response):
    """(WSGI) GET /drive_recycle?/TARGET: requests TARGET, then /pid again
    and again on one keep-alive connection (10 s at most), until the server
    closes it: a recycling worker closes its idle keep-alive connections
    once it has logged why it recycles. (A new connection would wait for a
    new worker, which the master starts only once this one, and so this
    request, is done.)"""
    import http.client
    import time
    import urllib.error
    import urllib.request
    base = "http://127.0.0.1:%s" % environ["SERVER_PORT"]
    try:
        status = urllib.request.urlopen(base + environ["QUERY_STRING"], timeout=10).status
    except urllib.error.HTTPError as e:
        status = e.code
    conn = http.client.HTTPConnection("127.0.0.1", int(environ["SERVER_PORT"]), timeout=10)
    closed = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not closed:
        try:
            conn.request("GET", "/pid")
            conn.getresponse().read()
            time.sleep(0.02)
        except (http.client.HTTPException, OSError):
            closed = True
    conn.close()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%s: %s\nthe worker closed its keep-alive connection: %s\n" % (
        environ["QUERY_STRING"], status, "yes" if closed else "NO")).encode()]


async def raw_status(scope, receive, send):
    """A status nginx has no reason phrase for."""
    await start(send, 299, [("content-type", "text/plain")], 3)
    await send({"type": "http.response.body", "body": b"ok\n"})
