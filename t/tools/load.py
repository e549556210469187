#!/usr/bin/env python3
"""A bounded HTTP/1.1 load for the lifecycle tests: N keep-alive
connections, each sending GET PATH in a loop until a deadline, and a
classification of every request, printed as JSON at the end.

    load.py PORT PATH CONNECTIONS SECONDS

What counts as what:
  ok          a complete 200 response (Content-Length bytes, or the chunked
              body to its last chunk);
  failed      anything else that arrived: another status, a response cut
              short, a connection closed or reset after some of the response;
  retried     a keep-alive connection closed before any byte of the answer
              to its next request: nginx's normal behaviour when a worker
              quits between two requests; the request is sent again, once,
              on a new connection (and then classified like any other);
  refused     a new connection refused, or closed before any byte of the
              answer: the listening socket is gone (nginx is quitting);
              such a request was never accepted.
The load stops at the deadline; a request in flight then is finished
(bounded by a 30 s read timeout), not abandoned.
"""

import asyncio
import json
import sys
import time


class Closed(Exception):
    """The connection ended; `got` bytes of the answer had arrived."""

    def __init__(self, got):
        self.got = got


async def read_response(reader):
    """Read one response; returns (status, complete)."""
    got = 0
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        raise Closed(len(e.partial))
    except (ConnectionError, OSError):
        raise Closed(0)
    got = len(head)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    try:
        if "content-length" in headers:
            await reader.readexactly(int(headers["content-length"]))
        elif "chunked" in headers.get("transfer-encoding", ""):
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            await reader.read()
    except (asyncio.IncompleteReadError, ConnectionError, OSError):
        raise Closed(got + 1)
    return status, headers.get("connection", "") != "close"


async def attempt(conn, request):
    """Send one request; returns (outcome, reusable): outcome is "ok", a
    status, "cut" (part of the answer came), or "closed" (none of it)."""
    reader, writer = conn
    try:
        writer.write(request)
        await writer.drain()
        status, keep = await asyncio.wait_for(read_response(reader), 30)
        return ("ok" if status == 200 else str(status)), keep
    except Closed as e:
        return ("cut" if e.got else "closed"), False
    except (ConnectionError, OSError):
        return "closed", False
    except asyncio.TimeoutError:
        return "cut", False


async def connect(port):
    try:
        return await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return None


async def connection(port, path, deadline, counts):
    request = ("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode()
    conn, served = None, 0
    while time.monotonic() < deadline:
        if conn is None:
            conn, served = await connect(port), 0
            if conn is None:
                counts["refused"] += 1
                await asyncio.sleep(0.05)
                continue
        outcome, keep = await attempt(conn, request)
        if outcome == "closed" and served:
            # Closed between two requests: send it again, once.
            counts["retried"] += 1
            conn[1].close()
            conn, served = await connect(port), 0
            if conn is None:
                counts["refused"] += 1
                continue
            outcome, keep = await attempt(conn, request)
        if outcome == "closed":
            counts["refused"] += 1
        elif outcome == "ok":
            counts["ok"] += 1
        else:
            counts["failed"] += 1
            counts["statuses"][outcome] = counts["statuses"].get(outcome, 0) + 1
        served += 1
        if not keep:
            conn[1].close()
            conn = None
    if conn is not None:
        conn[1].close()


async def main():
    port, path, n, seconds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    counts = {"ok": 0, "failed": 0, "retried": 0, "refused": 0, "statuses": {}}
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(connection(port, path, deadline, counts) for _ in range(n)))
    print(json.dumps(counts, sort_keys=True))


if __name__ == "__main__":
    asyncio.run(main())
