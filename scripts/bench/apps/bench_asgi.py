"""The benchmark's ASGI application (plain ASGI 3, no framework), the same
for every server: asgi_app, Granian, uvicorn (direct and behind nginx's
proxy_pass). The asgi-hello and asgi-stream counterparts of bench_app.py:

  /hello    13 bytes, with Content-Length
  /stream   1 MiB in 16 http.response.body messages of 64 KiB (more_body),
            with Content-Length
  /loop     the module of the running event loop's class ("uvloop" or
            "asyncio"), that bench.py asks once before the load
  /ws       (a WebSocket) accepts, then sends every message back as it
            came (text as text, bytes as bytes) until the client leaves:
            asgi-ws-echo

The lifespan is answered (nothing to set up), so that every server runs it
the same way. The FastAPI endpoint of asgi-json is bench_fastapi.py.
"""
import asyncio

HELLO = b"Hello, world!"
CHUNK = b"x" * 65536
STREAM_CHUNKS = 16  # 16 x 64 KiB = 1 MiB
PLAIN = (b"content-type", b"text/plain")


async def _plain(send, body):
    await send({"type": "http.response.start", "status": 200,
                "headers": [PLAIN, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def hello(scope, receive, send):
    await _plain(send, HELLO)


async def stream(scope, receive, send):
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream"),
                            (b"content-length", str(len(CHUNK) * STREAM_CHUNKS).encode())]})
    for i in range(STREAM_CHUNKS):
        await send({"type": "http.response.body", "body": CHUNK, "more_body": i < STREAM_CHUNKS - 1})


async def loop(scope, receive, send):
    await _plain(send, type(asyncio.get_running_loop()).__module__.split(".")[0].encode())


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def ws_echo(scope, receive, send):
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.receive":
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"]})
        elif message["type"] == "websocket.disconnect":
            return


ROUTES = {"/hello": hello, "/stream": stream, "/loop": loop}
WS_ROUTES = {"/ws": ws_echo}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    if scope["type"] == "websocket":
        route = WS_ROUTES.get(scope["path"])
        if route is None:
            await send({"type": "websocket.close", "code": 1008})   # a 403 before the accept
            return
        return await route(scope, receive, send)
    route = ROUTES.get(scope["path"])
    if route is None:
        await send({"type": "http.response.start", "status": 404,
                    "headers": [PLAIN, (b"content-length", b"10")]})
        await send({"type": "http.response.body", "body": b"not found\n"})
        return
    await route(scope, receive, send)
