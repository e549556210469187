"""ngx-wsgi's ASGI glue, run on each worker's asyncio loop thread.

Only what is clearest in Python lives here: wrapping an app call in a task
that reports how it ended, and the lifespan protocol's little state
machine. Scopes, messages, receive() and send() are the module's own
(src/asgi/), in Rust.
"""

import asyncio

# asyncio keeps only weak references to tasks: these are the strong ones.
_tasks = set()


def _keep(task):
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _run(app, scope, receive, send):
    """The app's call; what it raised is the result, so that nothing it
    raises (SystemExit and KeyboardInterrupt included, which asyncio lets
    out of the loop) stops the worker's loop."""
    try:
        await app(scope, receive, send)
    except asyncio.CancelledError:
        raise
    except BaseException as e:
        return e
    return None


def start(loop, app, scope, receive, send, ended):
    """One request: `app(scope, receive, send)` as a task of its own (with a
    copy of the current contextvars context, as create_task makes); then
    `ended(None)`, `ended(exception)`, or `ended(CancelledError())` if it
    was cancelled, even before it began. Returns the task."""
    task = loop.create_task(_run(app, scope, receive, send))
    _tasks.add(task)

    def done(task):
        _tasks.discard(task)
        ended(asyncio.CancelledError() if task.cancelled() else task.result())

    task.add_done_callback(done)
    return task


class Lifespan:
    """One app's lifespan: `report(event, detail)` tells the server what
    happened: `lifespan.startup.complete`, `lifespan.startup.failed`,
    `lifespan.shutdown.complete`, `lifespan.shutdown.failed` (detail: the
    app's message), `error` (detail: the exception), or `returned` (the app
    returned, e.g. at once, not doing lifespan)."""

    def __init__(self, app, state, report):
        self.app = app
        self.state = state
        self.report = report
        self.inbox = asyncio.Queue()

    async def receive(self):
        return await self.inbox.get()

    async def send(self, message):
        kind = message["type"]
        if kind not in ("lifespan.startup.complete", "lifespan.startup.failed",
                        "lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            raise RuntimeError("a lifespan app may not send %r" % (kind,))
        self.report(kind, str(message.get("message", "")))

    async def run(self):
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                 "state": self.state}
        self.inbox.put_nowait({"type": "lifespan.startup"})
        try:
            await self.app(scope, self.receive, self.send)
        except BaseException as e:
            self.report("error", e)
        else:
            self.report("returned", "")

    def shutdown(self):
        self.inbox.put_nowait({"type": "lifespan.shutdown"})


def start_lifespan(loop, app, state, report):
    lifespan = Lifespan(app, state, report)
    _keep(loop.create_task(lifespan.run()))
    return lifespan
