"""A FastAPI application for t/frameworks-fastapi.t: `asgi_app fastapi_app:app;`.

Its lifespan makes the state that requests use (a store of items, the log
of the background tasks, a file to send), so a request that sees it shows
that the lifespan ran. Everything else is ordinary FastAPI: path, query and
pydantic-validated body parameters, HTTPException, an unhandled exception,
an UploadFile, a StreamingResponse, a FileResponse, BackgroundTasks.

A small pure-ASGI middleware records the types of the messages each
response sent, so a test can ask (GET /sent?path=...) whether FileResponse
used http.response.pathsend.

drive_hangup is a WSGI app of the same nginx that acts as a client that
hangs up in the middle of a StreamingResponse.

The WebSocket endpoints under /ws/ are for t/frameworks-websocket.t, whose
client is t/apps/frameworks/ws_driver.py: an echo (with a subprotocol and
headers in its accept), the typed receive_*/send_* round trip, path and
query parameters with the lifespan's state, a refusal before the accept, a
close with the app's own code and reason, an exception after the accept,
and two that record how the client left (WebSocketDisconnect from
receive, or from a send after the client had gone) for GET /ws/disconnects.
"""

import asyncio
import contextlib
import hashlib
import os
import shutil
import socket
import sys
import tempfile
import threading

from fastapi import (
    BackgroundTasks,
    FastAPI,
    File,
    Form,
    HTTPException,
    Request,
    UploadFile,
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
    status,
)
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field

# 100 KiB of bytes that are not text: a chain of SHA-256 digests (the test
# makes the same bytes).
FILE_CONTENT = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(3200))

STARTUPS = 0


@contextlib.asynccontextmanager
async def lifespan(app):
    global STARTUPS
    STARTUPS += 1
    files = tempfile.mkdtemp(prefix="ngx-wsgi-fastapi-%d-" % os.getpid())
    path = os.path.join(files, "digests.bin")
    with open(path, "wb") as f:
        f.write(FILE_CONTENT)
    yield {
        "items": {
            1: {"id": 1, "name": "spam", "price": 1.5, "tags": []},
            2: {"id": 2, "name": "eggs", "price": 0.25, "tags": ["breakfast"]},
        },
        "notifications": [],
        # set by GET /notifications: the background tasks wait for it, so
        # their effect can only come after their response went out
        "release": asyncio.Event(),
        "file": path,
    }
    shutil.rmtree(files, ignore_errors=True)
    print("fastapi_app: lifespan shutdown", file=sys.stderr, flush=True)


# The types of the messages sent by the last response to each path.
SENT = {}


class RecordSent:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        types = SENT[scope["path"]] = []

        async def recording_send(message):
            types.append(message["type"])
            await send(message)

        await self.app(scope, receive, recording_send)


app = FastAPI(title="ngx-wsgi test app", version="1.0", lifespan=lifespan)
app.add_middleware(RecordSent)


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    price: float = Field(gt=0)
    tags: list[str] = []


@app.get("/items/{item_id}")
async def read_item(item_id: int, request: Request, q: str | None = None, limit: int = 10):
    item = request.state.items.get(item_id)
    if item is None:
        raise HTTPException(status_code=404, detail="item %d not found" % item_id)
    return {
        "item": item,
        "q": q,
        "limit": limit,
        "path": request.url.path,
        "root_path": request.scope["root_path"],
        "url_for": str(request.url_for("read_item", item_id=item_id)),
        "startups": STARTUPS,
    }


@app.get("/items")
async def list_items(request: Request):
    items = request.state.items
    return {"count": len(items), "names": [items[k]["name"] for k in sorted(items)]}


@app.post("/items", status_code=201)
async def create_item(item: Item, request: Request):
    items = request.state.items
    new = {"id": max(items) + 1, **item.model_dump()}
    items[new["id"]] = new
    return new


@app.get("/boom")
async def boom():
    raise RuntimeError("fastapi_app: an unhandled error")


@app.post("/upload")
async def upload(file: UploadFile = File(...), note: str = Form(...)):
    digest = hashlib.sha256()
    size = 0
    while chunk := await file.read(256 * 1024):
        digest.update(chunk)
        size += len(chunk)
    return {
        "filename": file.filename,
        "content_type": file.content_type,
        "size": size,
        "sha256": digest.hexdigest(),
        "note": note,
    }


# How far the last /stream went, for drive_hangup (a WSGI thread).
STREAMED = {"lines": 0, "ended": threading.Event()}


@app.get("/stream")
async def stream(n: int = 5):
    async def lines():
        STREAMED["lines"] = 0
        STREAMED["ended"].clear()
        try:
            for i in range(n):
                await asyncio.sleep(0.01)
                yield ("line %d of %d\n" % (i + 1, n)).encode()
                STREAMED["lines"] += 1
        finally:
            STREAMED["ended"].set()

    return StreamingResponse(lines(), media_type="text/plain")


def drive_hangup(environ, start_response):
    """WSGI: GET /api/stream?n=100000 (1000 s of lines), read three lines,
    hang up; report whether the stream's generator ended, early."""
    n = 100000
    s = socket.create_connection(("127.0.0.1", int(environ["SERVER_PORT"])), timeout=10)
    s.sendall(b"GET /api/stream?n=%d HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % n)
    got = b""
    while b"line 3 of" not in got:
        data = s.recv(65536)
        if not data:
            break
        got += data
    s.close()
    ended = STREAMED["ended"].wait(10)
    lines = STREAMED["lines"]
    report = [
        "read before hanging up: %s" % ("3 lines" if b"line 3 of" in got else repr(got)),
        "the generator ended: %s" % ("yes" if ended else "NO (not within 10 s)"),
        "early: %s" % ("yes" if 3 <= lines < n / 10 else "NO (%d lines)" % lines),
    ]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("\n".join(report) + "\n").encode()]


@app.get("/file")
async def file(request: Request):
    return FileResponse(request.state.file, media_type="application/octet-stream", filename="digests.bin")


@app.get("/sent")
async def sent(path: str):
    return {"path": path, "types": SENT.get(path)}


async def notify(request_state_log, release, name):
    await release.wait()
    request_state_log.append("notified %s" % name)


@app.post("/notify/{name}", status_code=202)
async def queue_notification(name: str, background_tasks: BackgroundTasks, request: Request):
    background_tasks.add_task(notify, request.state.notifications, request.state.release, name)
    return {"queued": name, "notifications so far": list(request.state.notifications)}


@app.get("/notifications")
async def notifications(request: Request):
    request.state.release.set()
    log = request.state.notifications
    for _ in range(500):
        if log:
            break
        await asyncio.sleep(0.01)
    return {"notifications": list(log)}


@app.get("/slow")
async def slow(seconds: float):
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        print("fastapi_app: /slow was cancelled", file=sys.stderr, flush=True)
        raise
    return {"slept": seconds}


@app.get("/loop")
async def loop():
    return {"loop": type(asyncio.get_running_loop()).__module__}


# --- WebSockets (t/frameworks-websocket.t) ---


@app.websocket("/ws/echo")
async def ws_echo(websocket: WebSocket):
    """Echoes every message as it came (text as text, bytes as bytes).
    Picks the subprotocol "chat" if the client offers it, and says in a
    header of the accept what the client offered."""
    offered = websocket.scope["subprotocols"]
    await websocket.accept(
        subprotocol="chat" if "chat" in offered else None,
        headers=[(b"x-offered", ",".join(offered).encode())],
    )
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await websocket.send_text(message["text"])
        else:
            await websocket.send_bytes(message["bytes"])


@app.websocket("/ws/rounds")
async def ws_rounds(websocket: WebSocket):
    """Starlette's typed methods, one round each; then it returns (the
    server closes with 1000)."""
    await websocket.accept()
    text = await websocket.receive_text()
    await websocket.send_json({"text": text, "chars": len(text), "utf8": len(text.encode())})
    data = await websocket.receive_bytes()
    await websocket.send_json({"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    obj = await websocket.receive_json()
    await websocket.send_json({"json": obj}, mode="binary")
    await websocket.send_bytes(bytes(range(256)))


@app.websocket("/ws/items/{item_id}")
async def ws_item(websocket: WebSocket, item_id: int, q: str | None = None):
    """A path and a query parameter, the lifespan's state: an item that is
    not in the store is refused before the accept (the client gets 403)."""
    item = websocket.state.items.get(item_id)
    if item is None:
        raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason="no item %d" % item_id)
    await websocket.accept()
    await websocket.send_json(
        {
            "item": item,
            "q": q,
            "path": websocket.url.path,
            "root_path": websocket.scope["root_path"],
            "scheme": websocket.scope["scheme"],
            "url_for": str(websocket.url_for("ws_item", item_id=item_id)),
            "startups": STARTUPS,
        }
    )
    await websocket.close()


@app.websocket("/ws/guarded")
async def ws_guarded(websocket: WebSocket, token: str | None = None):
    """Refuses (closes before the accept) a client without the token."""
    if token != "let-me-in":
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="a token is required")
        return
    await websocket.accept()
    await websocket.send_text("welcome")
    await websocket.close()


@app.websocket("/ws/close")
async def ws_close(websocket: WebSocket, code: int, reason: str = ""):
    """Answers one message, then closes with the code and reason asked."""
    await websocket.accept()
    text = await websocket.receive_text()
    await websocket.send_text("closing after %s" % text)
    await websocket.close(code=code, reason=reason)


@app.websocket("/ws/boom")
async def ws_boom(websocket: WebSocket):
    """Raises after the accept, on the first message."""
    await websocket.accept()
    text = await websocket.receive_text()
    raise RuntimeError("fastapi_app: the websocket handler failed on %r" % text)


# How the clients of /ws/watch and /ws/ticker left, by name.
WS_DISCONNECTS = {}


@app.websocket("/ws/watch/{name}")
async def ws_watch(websocket: WebSocket, name: str):
    """Acknowledges each message until the client leaves, then records the
    WebSocketDisconnect that receive_text() raised."""
    await websocket.accept()
    received = 0
    try:
        while True:
            text = await websocket.receive_text()
            received += 1
            await websocket.send_text("ack %d: %s" % (received, text))
    except WebSocketDisconnect as e:
        WS_DISCONNECTS[name] = {"from": "receive", "code": e.code, "reason": e.reason, "received": received}


@app.websocket("/ws/ticker/{name}")
async def ws_ticker(websocket: WebSocket, name: str):
    """Sends a tick every 10 ms and never receives: the client's leaving
    shows as a send() that fails (Starlette turns the server's OSError into
    WebSocketDisconnect(1006)); records that and what the server raised."""
    await websocket.accept()
    sent = 0
    try:
        while sent < 3000:
            await websocket.send_text("tick %d" % (sent + 1))
            sent += 1
            await asyncio.sleep(0.01)
    except WebSocketDisconnect as e:
        cause = e.__context__
        WS_DISCONNECTS[name] = {
            "from": "send",
            "code": e.code,
            "cause": None if cause is None else "%s.%s" % (type(cause).__module__, type(cause).__qualname__),
            "oserror": isinstance(cause, OSError),
            "early": sent < 1000,
        }
        return
    WS_DISCONNECTS[name] = {"from": "send", "code": None, "sent": sent}


@app.get("/ws/disconnects")
async def ws_disconnects(names: str):
    """What the endpoints above recorded for these names (comma-separated),
    once all are there (or after 5 s)."""
    wanted = names.split(",")
    for _ in range(500):
        if all(n in WS_DISCONNECTS for n in wanted):
            break
        await asyncio.sleep(0.01)
    return {n: WS_DISCONNECTS.get(n) for n in wanted}
