"""The WebSocket client of t/frameworks-websocket.t: a WSGI app in the same
nginx (`location /drive/ { wsgi_app ws_driver:app; }`) that runs a client
of the `websockets` library against the FastAPI app (/api/) and the
Starlette app (/chat/), in asyncio.run() on its WSGI thread, and answers
with what that client saw, one line per fact.

GET /drive/NAME runs the scenario NAME (the functions below); its query
string is passed on. Every wait is bounded, so a server that does not
answer gives a line that says so, not a test that hangs.
"""

import asyncio
import hashlib
import json
import traceback
import urllib.parse
import urllib.request

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

WAIT = 5  # seconds, for any one thing the client waits for


def blob(n_digests):
    """Bytes that are not text: a chain of SHA-256 digests (the test makes
    the same ones), 32 bytes each."""
    return b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n_digests))


class Client:
    def __init__(self, port):
        self.port = port

    def connect(self, path, **kwargs):
        """A client of ws://localhost/PATH through nginx's port. Everything
        as the library has it by default (it offers permessage-deflate),
        but no proxy and no keepalive pings of its own."""
        kwargs.setdefault("open_timeout", WAIT)
        kwargs.setdefault("close_timeout", WAIT)
        return connect(
            "ws://localhost" + path,
            host="127.0.0.1",
            port=self.port,
            proxy=None,
            ping_interval=None,
            **kwargs,
        )

    async def refused(self, path, **kwargs):
        """Opens PATH expecting a refusal: the status and body, and whether
        the response has handshake headers it should not have."""
        try:
            async with self.connect(path, **kwargs) as ws:
                return "NOT refused: opened (subprotocol %r)" % ws.subprotocol
        except InvalidStatus as e:
            r = e.response
            extra = [h for h in ("Upgrade", "Sec-WebSocket-Accept", "Sec-WebSocket-Protocol") if h in r.headers]
            return "HTTP %d %r%s" % (r.status_code, (r.body or b"")[:60].decode("latin-1"),
                                    ", with " + " ".join(extra) if extra else "")

    async def get(self, path):
        """An HTTP GET of PATH through nginx: the body."""
        def get():
            request = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path),
                                             headers={"Host": "localhost"})
            with urllib.request.urlopen(request, timeout=WAIT) as response:
                return response.read().decode()
        return await asyncio.to_thread(get)


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), WAIT)


def closed(e):
    """What a ConnectionClosed says about the Close the client received."""
    if e.rcvd is None:
        return "%s, no Close received" % type(e).__name__
    return "%s, received %d %r" % (type(e).__name__, e.rcvd.code, e.rcvd.reason)


def answered(ws):
    """After the client's close(): the Close the server answered with (None
    if it did not answer within close_timeout)."""
    return ws.protocol.close_rcvd


async def expect_close(ws):
    """The client's next recv(), expected to end with the server's Close."""
    try:
        message = await recv(ws)
        return "NOT closed: got %r" % (message[:60],)
    except ConnectionClosed as e:
        return closed(e)
    except asyncio.TimeoutError:
        return "NOT closed within %d s" % WAIT


async def close_without_code(ws):
    """Sends a Close frame without a status code (the app should see 1005).
    The library's close() always sends one, so this uses what close() uses."""
    async with ws.send_context():
        ws.protocol.send_close()
    await asyncio.wait_for(ws.wait_closed(), WAIT)


# --- the scenarios: each returns the report's lines ---


async def subprotocol(c, query):
    """The client offers ["a", "chat"] (and permessage-deflate); the echo
    picks "chat". Then one text and one binary message; then a client that
    offers no subprotocol."""
    lines = []
    async with c.connect("/api/ws/echo", subprotocols=["a", "chat"]) as ws:
        headers = ws.response.headers
        lines.append("status: %d" % ws.response.status_code)
        lines.append("subprotocol: %s" % ws.subprotocol)
        lines.append("Sec-WebSocket-Protocol: %s" % headers.get("Sec-WebSocket-Protocol"))
        lines.append("X-Offered: %s" % headers.get("X-Offered"))
        lines.append("Sec-WebSocket-Extensions: %s" % headers.get("Sec-WebSocket-Extensions"))
        await ws.send("héllo ☃")
        echo = await recv(ws)
        lines.append("text echo: %s %r" % (type(echo).__name__, echo))
        await ws.send(b"\x00\x01\xfe\xff")
        echo = await recv(ws)
        lines.append("binary echo: %s %r" % (type(echo).__name__, echo))
    lines.append("closed by the client: %s" % answered(ws))
    async with c.connect("/api/ws/echo") as ws:
        lines.append("no offer: subprotocol %s, X-Offered %r, Sec-WebSocket-Protocol %s" % (
            ws.subprotocol, ws.response.headers.get("X-Offered"),
            ws.response.headers.get("Sec-WebSocket-Protocol")))
    return lines


async def big(c, query):
    """A 200 KiB binary message to the echo and back."""
    data = blob(6400)
    lines = ["sent: %d bytes, sha256 %s" % (len(data), hashlib.sha256(data).hexdigest())]
    async with c.connect("/api/ws/echo") as ws:
        await ws.send(data)
        echo = await recv(ws)
        lines.append("echo: %s of %d bytes, sha256 %s" % (
            type(echo).__name__, len(echo), hashlib.sha256(echo).hexdigest()))
        lines.append("echo is what was sent: %s" % ("yes" if echo == data else "NO"))
    lines.append("closed by the client: %s" % answered(ws))
    return lines


async def past_buffer(c, query):
    """Messages larger than wsgi_buffer_size (256k by default), up to the
    largest asgi_websocket_max_message_size allows: each comes back, and
    the connection goes on reading (a text, a Ping, the Close)."""
    lines = []
    for size in (300 * 1024, 2**20):
        async with c.connect("/api/ws/echo", max_size=2**21) as ws:
            data = blob(size // 32)
            await ws.send(data)
            echo = await recv(ws)
            line = "%d bytes: echoed %s" % (size, "whole" if echo == data else "WRONG (%d bytes)" % len(echo))
            try:
                await ws.send("and then?")
                line += "; then %r" % await recv(ws)
                pong = await ws.ping()
                await asyncio.wait_for(pong, WAIT)
                line += "; a Pong"
            except asyncio.TimeoutError:
                line += "; then NOTHING within %d s" % WAIT
        lines.append(line + "; closed by the client: %s" % answered(ws))
    return lines


async def rounds(c, query):
    """receive_text, receive_bytes, receive_json and send_json (text and
    binary), send_bytes; then the endpoint returns."""
    lines = []
    async with c.connect("/api/ws/rounds") as ws:
        await ws.send("naïve café ☕")
        lines.append("text -> %s" % await recv(ws))
        await ws.send(blob(6400))
        lines.append("bytes -> %s" % await recv(ws))
        await ws.send(json.dumps({"n": [1, 2.5, None, True], "s": "é"}))
        got = await recv(ws)
        lines.append("json -> %s %s" % (type(got).__name__, got.decode() if isinstance(got, bytes) else got))
        got = await recv(ws)
        lines.append("then: %s, %s" % (type(got).__name__, "bytes 0..255" if got == bytes(range(256)) else repr(got)))
        lines.append("then: %s" % await expect_close(ws))
    return lines


async def items(c, query):
    """A path parameter, a query parameter and the lifespan's state; an
    item that is not there, and a path parameter that is not an int."""
    lines = []
    async with c.connect("/api/ws/items/2?q=a%20b") as ws:
        lines.append("items/2?q=a%%20b: %s" % await recv(ws))
        lines.append("then: %s" % await expect_close(ws))
    lines.append("items/99: %s" % await c.refused("/api/ws/items/99"))
    lines.append("no such route: %s" % await c.refused("/api/ws/nowhere"))
    return lines


async def validation(c, query):
    """A path parameter that is not an int: FastAPI's own handler refuses
    it (a close before the accept, whose reason is FastAPI's error list)."""
    return ["items/two: %s" % await c.refused("/api/ws/items/two")]


async def refuse(c, query):
    """An endpoint that closes before the accept, and then with its token."""
    lines = ["no token: %s" % await c.refused("/api/ws/guarded")]
    lines.append("wrong token: %s" % await c.refused("/api/ws/guarded?token=guess", subprotocols=["chat"]))
    async with c.connect("/api/ws/guarded?token=let-me-in") as ws:
        lines.append("with the token: %s" % await recv(ws))
        lines.append("then: %s" % await expect_close(ws))
    return lines


async def ping(c, query):
    """Pings to the echo: each awaits its Pong; messages before and after
    come back in order."""
    lines = []
    async with c.connect("/api/ws/echo") as ws:
        await ws.send("before")
        pong = await ws.ping(b"are you there?")
        await asyncio.wait_for(pong, WAIT)
        lines.append("pong for a ping with data: yes")
        pong = await ws.ping()
        await asyncio.wait_for(pong, WAIT)
        lines.append("pong for a ping with random data: yes")
        await ws.send("after")
        lines.append("echoes: %s, %s" % (await recv(ws), await recv(ws)))
        pongs = [await ws.ping(b"%d" % i) for i in range(20)]
        await asyncio.wait_for(asyncio.gather(*pongs), WAIT)
        lines.append("pongs for 20 pings in a row: 20")
    lines.append("closed by the client: %s" % answered(ws))
    # and to an endpoint that is not reading (waiting in receive_text()
    # would read: this one waits for nothing, it just sleeps between sends)
    async with c.connect("/api/ws/ticker/pinged") as ws:
        await recv(ws)
        pong = await ws.ping(b"busy?")
        await asyncio.wait_for(pong, WAIT)
        lines.append("pong from an endpoint that never receives: yes")
    lines.append("closed by the client: %s" % answered(ws))
    return lines


async def many(c, query):
    """50 clients of the echo at once: every one open before any sends,
    then each sends 10 text and 10 binary messages and checks the echoes."""
    n = int(query.get("n", "50"))
    all_open = asyncio.Barrier(n)
    results = []

    async def one(i):
        async with c.connect("/api/ws/echo", subprotocols=["chat"]) as ws:
            await asyncio.wait_for(all_open.wait(), WAIT)
            right = 0
            for j in range(10):
                text = "client %d message %d " % (i, j) + "x" * (i * 37 + j)
                await ws.send(text)
                right += await recv(ws) == text
                data = blob(i + j + 1)
                await ws.send(data)
                right += await recv(ws) == data
        results.append((right, ws.subprotocol, getattr(answered(ws), "code", None)))

    outcomes = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    lines = ["clients: %d, all open at once: %s" % (n, "yes" if not all_open.broken else "NO")]
    lines.append("finished: %d" % len(results))
    lines.append("echoes right: %d of %d" % (sum(r[0] for r in results), 20 * n))
    lines.append("subprotocol chat: %d" % sum(r[1] == "chat" for r in results))
    lines.append("closed by the client, answered with 1000: %d" % sum(r[2] == 1000 for r in results))
    for e in failed[:3]:
        lines.append("failed: %r" % e)
    return lines


async def close(c, query):
    """The app closes with a code and reason of its own."""
    lines = []
    for code, reason in ((4321, "bye — for now"), (1000, "done"), (1001, ""), (3000, "r" * 123)):
        path = "/api/ws/close?" + urllib.parse.urlencode({"code": code, "reason": reason})
        async with c.connect(path) as ws:
            await ws.send("hi")
            got = await recv(ws)
            lines.append("%d %s: %s; %s" % (code, reason[:10], got, await expect_close(ws)))
    return lines


async def boom(c, query):
    """The endpoint raises after the accept."""
    async with c.connect("/api/ws/boom") as ws:
        await ws.send("trigger")
        return ["after the exception: %s" % await expect_close(ws)]


async def disconnect(c, query):
    """Clients that leave in each way; the endpoints record what they saw
    (the test asks GET /api/ws/disconnects next)."""
    lines = []

    async with c.connect("/api/ws/watch/code") as ws:
        await ws.send("one")
        await ws.send("two")
        lines.append("code: %s, %s" % (await recv(ws), await recv(ws)))
        await ws.close(4004, "gone fishing")
    lines.append("code: the server answered %s" % answered(ws))

    async with c.connect("/api/ws/watch/normal") as ws:
        await ws.send("one")
        await recv(ws)
    lines.append("normal: the server answered %s" % answered(ws))

    async with c.connect("/api/ws/watch/nocode") as ws:
        await ws.send("one")
        await recv(ws)
        await close_without_code(ws)
    lines.append("nocode: the server answered %s" % answered(ws))

    async with c.connect("/api/ws/watch/gone") as ws:
        await ws.send("one")
        await recv(ws)
        ws.transport.abort()
    lines.append("gone: aborted the TCP connection")

    async with c.connect("/api/ws/ticker/ticker-closed") as ws:
        ticks = [await recv(ws) for _ in range(3)]
        await ws.close(4000, "enough")
    lines.append("ticker-closed: %s, then closed with 4000, answered %s" % (", ".join(ticks), answered(ws)))

    async with c.connect("/api/ws/ticker/ticker-gone") as ws:
        ticks = [await recv(ws) for _ in range(3)]
        ws.transport.abort()
    lines.append("ticker-gone: %s, then aborted" % ", ".join(ticks))
    return lines


async def too_big(c, query):
    """asgi_websocket_max_message_size (1m): a message one byte larger
    closes the connection with 1009, which the endpoint sees."""
    lines = []
    async with c.connect("/api/ws/watch/too-big") as ws:
        await ws.send("small")
        lines.append("a small message: %s" % await recv(ws))
        await ws.send("x" * (2**20 + 1))
        lines.append("1 MiB + 1: %s" % await expect_close(ws))
    lines.append("the endpoint saw: %s" % await c.get("/api/ws/disconnects?names=too-big"))
    return lines


async def room(c, query):
    """The Starlette room: three members, a broadcast from each, one that
    leaves with a code of its own, a name already taken; the counter."""
    lines = []
    log = {}

    async def join(name):
        ws = await c.connect("/chat/room/" + name)
        log[name] = []
        return ws

    async def take(name, ws, n):
        for _ in range(n):
            log[name].append(await recv(ws))

    ann = await join("ann")
    await take("ann", ann, 1)
    bob = await join("bob")
    await asyncio.gather(take("ann", ann, 1), take("bob", bob, 1))
    cat = await join("cat")
    await asyncio.gather(take("ann", ann, 1), take("bob", bob, 1), take("cat", cat, 1))
    lines.append("another ann: %s" % await c.refused("/chat/room/ann"))
    for name, ws in (("ann", ann), ("bob", bob), ("cat", cat)):
        await ws.send(json.dumps({"say": "hi from %s" % name}))
        await asyncio.gather(take("ann", ann, 1), take("bob", bob, 1), take("cat", cat, 1))
    await bob.close(4002, "bob has to go")
    await asyncio.gather(take("ann", ann, 1), take("cat", cat, 1))
    await ann.close()
    await take("cat", cat, 1)
    await cat.close()
    lines.append("closes answered: bob %s, ann %s, cat %s" % (answered(bob), answered(ann), answered(cat)))
    for name in ("ann", "bob", "cat"):
        lines.append("%s got:" % name)
        lines.extend("  " + m for m in log[name])

    async with c.connect("/chat/counter") as one, c.connect("/chat/counter") as two:
        got = []
        for ws, n in ((one, "1"), (two, "2"), (one, "3"), (two, "4")):
            await ws.send(n)
            got.append(await recv(ws))
    lines.append("counter: %s" % " ".join(got))
    lines.append("closes answered: %s, %s" % (answered(one), answered(two)))
    return lines


async def malformed(c, query):
    """A room member that sends what is not JSON: Starlette's endpoint
    closes with 1003, then raises; the other member hears it left (with the
    code Starlette gives its on_disconnect: 1011)."""
    eve = await c.connect("/chat/room/eve")
    heard = [await recv(eve)]
    dan = await c.connect("/chat/room/dan")
    heard.append(await recv(eve))
    await recv(dan)
    await dan.send("this is not JSON")
    lines = ["dan: %s" % await expect_close(dan)]
    heard.append(await recv(eve))
    await eve.close()
    lines.append("eve closed, answered %s; she heard:" % answered(eve))
    lines.extend("  " + m for m in heard)
    return lines


SCENARIOS = {
    name: globals()[name]
    for name in ("subprotocol", "big", "rounds", "items", "refuse", "ping", "many", "close", "boom",
                 "disconnect", "too_big", "room", "validation", "malformed", "past_buffer")
}


def app(environ, start_response):
    name = environ["PATH_INFO"].strip("/")
    query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
    scenario = SCENARIOS.get(name)
    if scenario is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such scenario\n"]
    client = Client(int(environ["SERVER_PORT"]))
    try:
        lines = asyncio.run(asyncio.wait_for(scenario(client, query), 30))
    except BaseException:
        lines = ["the driver failed:"] + traceback.format_exc().splitlines()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [("\n".join(lines) + "\n").encode()]
