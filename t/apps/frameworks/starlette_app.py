"""A pure Starlette application for t/frameworks-websocket.t:
`asgi_app starlette_app:app;` under /chat/.

- /room/{name}: a WebSocketEndpoint (JSON messages) that broadcasts to
  every connected member: who joined, what each member says, who left and
  with which close code. A name already in the room is refused (closed
  before the accept).
- /counter: a plain websocket function route: each message adds to one
  counter shared by all connections and gets its new value back.
- /stats: an HTTP route that reports the room and the counter, once the
  room is empty (or after 5 s), so a test can see what the app saw.
"""

import asyncio

from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

MEMBERS = {}  # name -> WebSocket, in the order they joined
LEFT = []  # [name, close code], in the order the app saw them leave
REFUSED = []  # [name, the code of the disconnect the endpoint got then]
STATS = {"said": 0, "counter": 0}


async def broadcast(message):
    for websocket in list(MEMBERS.values()):
        await websocket.send_json(message)


class Room(WebSocketEndpoint):
    encoding = "json"

    async def on_connect(self, websocket):
        name = websocket.path_params["name"]
        if name in MEMBERS:
            await websocket.close(code=4009, reason="%s is taken" % name)
            return
        await websocket.accept()
        MEMBERS[name] = websocket
        await broadcast({"joined": name, "members": list(MEMBERS)})

    async def on_receive(self, websocket, data):
        STATS["said"] += 1
        await broadcast({"from": websocket.path_params["name"], "said": data["say"]})

    async def on_disconnect(self, websocket, close_code):
        name = websocket.path_params["name"]
        if MEMBERS.get(name) is websocket:
            del MEMBERS[name]
            LEFT.append([name, close_code])
            await broadcast({"left": name, "code": close_code})
        else:
            REFUSED.append([name, close_code])


async def counter(websocket):
    await websocket.accept()
    async for text in websocket.iter_text():
        STATS["counter"] += int(text)
        await websocket.send_text(str(STATS["counter"]))


async def stats(request):
    for _ in range(500):
        if not MEMBERS:
            break
        await asyncio.sleep(0.01)
    return JSONResponse(
        {
            "members": list(MEMBERS),
            "left": LEFT,
            "refused": REFUSED,
            "said": STATS["said"],
            "counter": STATS["counter"],
            "root_path": request.scope["root_path"],
        }
    )


app = Starlette(
    routes=[
        WebSocketRoute("/room/{name}", Room),
        WebSocketRoute("/counter", counter),
        Route("/stats", stats),
    ]
)
