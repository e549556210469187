"""asgi_app MODULE: the callable is `app` (as uvicorn's default)."""


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200})
    await send({"type": "http.response.body", "body": b"the default callable of asgi_app is app\n"})
