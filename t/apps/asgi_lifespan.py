"""ASGI apps and the lifespan protocol, for t/asgi-lifespan.t."""

import os

startups = [0]


async def _answer(send, body):
    body = body.encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


async def with_state(scope, receive, send):
    """Startup puts a greeting in the state; each request shows it, and
    how many startups this process ran. Shutdown is logged."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                startups[0] += 1
                scope["state"]["greeting"] = "hello from startup"
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                print("asgi_lifespan: shutdown complete in %d" % os.getpid())
                await send({"type": "lifespan.shutdown.complete"})
                return
    # A request may change its copy of the state, not the next request's.
    state = scope.get("state")
    seen = state.get("greeting") if state is not None else "no state"
    if state is not None:
        state["greeting"] = "changed by a request"
    await _answer(send, "%s; startups: %d\n" % (seen, startups[0]))


async def startup_fails(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})
        return
    await _answer(send, "served\n")


async def no_lifespan(scope, receive, send):
    """As Django's ASGIHandler: anything but HTTP is refused."""
    if scope["type"] != "http":
        raise ValueError("only HTTP here, not %s" % scope["type"])
    await _answer(send, "served without lifespan; state in scope: %s\n" % ("state" in scope))


async def shutdown_fails(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.failed", "message": "could not flush"})
        return
    await _answer(send, "served\n")
