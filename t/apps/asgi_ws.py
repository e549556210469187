"""ASGI WebSocket apps and the WSGI drivers that test them, for
t/asgi-websocket.t (asgi_app, ASGI websocket scope 2.4).

The targets are ASGI apps; the drive_* apps are WSGI apps that act as the
client: each opens raw WebSockets (ws_client.py) to other locations of the
same nginx, does what a test needs, and answers with a report of what it
observed. One nginx worker runs both, so they share this module: a target
notes what it saw (receive()'s messages, what send() raised) under a key
the driver gives it in the query string, and the driver reports those
notes. Targets never block the asyncio loop (a wait is a poll with
asyncio.sleep). Drivers wait with timeouts only so that a failing server
cannot hang a test; no result depends on how long something took, except
that the backpressure tests take 1 s without progress (a producer's count,
a socket's room) for a stop.
"""

import asyncio
import hashlib
import itertools
import json
import os
import select
import struct
import threading
import time
from signal import SIGHUP

import ws_client
from asgi_http import plain
from ws_client import BINARY, CLOSE, CONT, PING, PONG, TEXT, WebSocket

# What the targets saw ------------------------------------------------------

_cond = threading.Condition()
_notes = {}
_signals = {}
_progress = {}
_ids = itertools.count(1)


def new_key():
    return "k%d" % next(_ids)


def note(key, line):
    with _cond:
        _notes.setdefault(key, []).append(line)
        _cond.notify_all()


def notes(key, until="ended", timeout=10):
    """What the target of `key` noted, once it noted `until` (10 s at
    most)."""
    with _cond:
        _cond.wait_for(lambda: until in _notes.get(key, ()), timeout)
        lines = list(_notes.get(key, ()))
    if until not in lines:
        lines.append("(the app did not note %r within %d s)" % (until, timeout))
    return [l for l in lines if l != "ended"]


def signal(key):
    with _cond:
        _signals[key] = True


async def signalled(key, timeout=20):
    """(on the loop) Wait for the driver's signal, `timeout` s at most."""
    for _ in range(int(timeout * 100)):
        if _signals.get(key):
            return True
        await asyncio.sleep(0.01)
    return False


def describe(message):
    """A received ASGI message, as notes and reports show it."""
    kind = message["type"]
    if kind == "websocket.receive":
        keys = sorted(k for k in message if k != "type")
        if keys == ["text"]:
            t = message["text"]
            return "text %r" % t if len(t) <= 64 else "text of %d characters" % len(t)
        if keys == ["bytes"]:
            b = message["bytes"]
            return "bytes %r" % b if len(b) <= 32 else "bytes, %d of them" % len(b)
        return "websocket.receive with the keys %s: %r" % (keys, message)
    if kind == "websocket.disconnect":
        return "disconnect %s %r" % (message.get("code"), message.get("reason"))
    return repr(message)


def numbered(i, size):
    """The i-th message of a numbered stream: its number, 4 bytes, again
    and again."""
    return struct.pack("!I", i) * (size // 4)


# The targets (ASGI) --------------------------------------------------------

def key_of(scope):
    return scope["query_string"].decode()


async def accept(send, **extra):
    await send({"type": "websocket.accept", **extra})


async def scope(scope, receive, send):
    """Accepts with the last subprotocol offered and headers of its own
    (those the server owns among them), then sends what receive() gave
    first and the scope, as JSON (bytes as latin-1 strings, the ports as
    "int", the random key as "(random)"); then waits for the client's
    Close."""
    first = await receive()
    await accept(send, subprotocol=scope["subprotocols"][-1], headers=[
        (b"x-app", b"yes"),
        (b"connection", b"close"),
        (b"upgrade", b"h2c"),
        (b"sec-websocket-accept", b"forged"),
        (b"sec-websocket-protocol", b"forged"),
        (b"sec-websocket-extensions", b"permessage-deflate"),
    ])

    out = plain(dict(scope))
    out["client"] = [out["client"][0], type(scope["client"][1]).__name__]
    out["server"] = [out["server"][0], type(scope["server"][1]).__name__]
    out["headers"] = [[n, "(random)" if n == "sec-websocket-key" else v]
                      for n, v in out["headers"] if n != "user-agent"]
    await send({"type": "websocket.send", "text": json.dumps(first, sort_keys=True)})
    await send({"type": "websocket.send", "text": json.dumps(out, sort_keys=True, indent=1)})
    await receive()


async def echo(scope, receive, send):
    """Sends back each message as it came (a message with other keys than
    "type" and one of "text" and "bytes" is answered with what was wrong);
    notes the disconnect if a key is given."""
    key = key_of(scope)
    await receive()
    await accept(send)
    while True:
        m = await receive()
        if m["type"] == "websocket.disconnect":
            if key:
                note(key, describe(m))
                note(key, "ended")
            return
        if sorted(m) == ["text", "type"]:
            await send({"type": "websocket.send", "text": m["text"]})
        elif sorted(m) == ["bytes", "type"]:
            await send({"type": "websocket.send", "bytes": m["bytes"]})
        else:
            await send({"type": "websocket.send", "text": "BAD MESSAGE: %r" % (m,)})


async def slow_accept(scope, receive, send):
    """Notes that it started, and accepts only once signalled; then echoes."""
    key = key_of(scope)
    note(key, "started")
    await signalled(key)
    await echo(scope, receive, send)


async def recorder(scope, receive, send):
    """Notes every message it receives, up to the disconnect."""
    key = key_of(scope)
    try:
        await receive()
        await accept(send)
        while True:
            m = await receive()
            note(key, describe(m))
            if m["type"] == "websocket.disconnect":
                return
    finally:
        note(key, "ended")


async def stream(scope, receive, send):
    """On the message "N SIZE": N binary messages of SIZE bytes (numbered,
    counted in _progress), then the text "done"; then waits for the
    client's Close. What send() raised is noted."""
    key = key_of(scope)
    try:
        await receive()
        await accept(send)
        n, size = map(int, (await receive())["text"].split())
        for i in range(n):
            _progress[key] = i + 1
            await send({"type": "websocket.send", "bytes": numbered(i, size)})
        await send({"type": "websocket.send", "text": "done"})
        note(key, describe(await receive()))
    except Exception as e:
        note(key, "raised %s: %s" % (type(e).__name__, e))
    finally:
        note(key, "ended")


async def lazy(scope, receive, send):
    """Receives nothing until signalled; then receives everything, checking
    the numbered messages' order, and notes how many came in order."""
    key = key_of(scope)
    try:
        await receive()
        await accept(send)
        if not await signalled(key):
            note(key, "never signalled")
            return
        count, in_order = 0, True
        while True:
            m = await receive()
            if m["type"] == "websocket.disconnect":
                note(key, "%d messages, in order: %s" % (count, "yes" if in_order else "NO"))
                note(key, describe(m))
                return
            data = m.get("bytes") or b""
            if len(data) < 4 or data != numbered(struct.unpack("!I", data[:4])[0], len(data)) \
                    or struct.unpack("!I", data[:4])[0] != count:
                in_order = False
            count += 1
    finally:
        note(key, "ended")


async def closer(scope, receive, send):
    """Sends "closing", closes with 4000 and a reason, then tries to send
    again, and notes what that raised and what receive() gives next."""
    key = key_of(scope)
    try:
        await receive()
        await accept(send)
        await send({"type": "websocket.send", "text": "closing"})
        await send({"type": "websocket.close", "code": 4000, "reason": "the app's reason"})
        try:
            await send({"type": "websocket.send", "text": "after the close"})
            note(key, "send() after the close: no exception")
        except Exception as e:
            note(key, "send() after the close raised %s: %s" % (type(e).__name__, e))
        note(key, "then receive() gave " + describe(await receive()))
    finally:
        note(key, "ended")


async def vanish(scope, receive, send):
    """Sends "hello", notes what receive() gives next, then sends again and
    notes what that raised."""
    key = key_of(scope)
    try:
        await receive()
        await accept(send)
        await send({"type": "websocket.send", "text": "hello"})
        note(key, "receive() gave " + describe(await receive()))
        try:
            await send({"type": "websocket.send", "text": "anyone there?"})
            note(key, "send() then: no exception")
        except Exception as e:
            note(key, "send() then raised %s, an OSError: %s" % (type(e).__name__, isinstance(e, OSError)))
    finally:
        note(key, "ended")


async def deaf(scope, receive, send):
    """Accepts, then waits on something else for a minute (a pub/sub
    that never speaks): it neither receives nor sends again."""
    key = key_of(scope)
    try:
        await receive()
        await accept(send)
        note(key, "accepted")
        await asyncio.sleep(60)
        note(key, "the minute passed")
    except asyncio.CancelledError:
        note(key, "cancelled")
        raise
    finally:
        note(key, "ended")


async def refuses(scope, receive, send):
    """websocket.close before websocket.accept: a 403."""
    await receive()
    await send({"type": "websocket.close"})


async def fails_before(scope, receive, send):
    await receive()
    raise ValueError("failed before the accept")


async def fails_after(scope, receive, send):
    await receive()
    await accept(send)
    await send({"type": "websocket.send", "text": "about to fail"})
    raise RuntimeError("failed after the accept")


async def returns_after(scope, receive, send):
    await receive()
    await accept(send)
    await send({"type": "websocket.send", "text": "done, returning"})


async def returns_before(scope, receive, send):
    """Neither accepts nor closes."""
    await receive()


async def not_called(scope, receive, send):
    """For the handshakes nginx refuses: must never run."""
    print("asgi_ws: not_called was called")
    await receive()
    await send({"type": "websocket.close"})


# The drivers (WSGI) --------------------------------------------------------

def driver(fn):
    """A WSGI app around fn(port, report): report is a list of lines, the
    response body; an exception ends the report with what it was."""
    def app(environ, start_response):
        report = []
        try:
            fn(environ["SERVER_PORT"], environ.get("QUERY_STRING", ""), report)
        except Exception as e:
            report.append("driver stopped: %s: %s" % (type(e).__name__, e))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [("\n".join(report) + "\n").encode()]
    return app


def close_and_report(ws, report, code=1000, reason=""):
    """Our Close, and how the server ended: its frames up to its Close,
    then whether it closed the connection."""
    frames = ws.close(code, reason)
    report.append("our Close %s%s: answered with %s" % (
        code, " %r" % reason if reason else "", ", ".join(map(str, frames))))
    report.append("then the server closed the connection: %s" % ws.wait_eof())


@driver
def drive_scope(port, query, report):
    ws = WebSocket.open(port, "/ws/scope/a%20b?x=1&y=%20", protocols=["chat", "superchat"],
                        headers=[("X-Multi", "1"), ("X-Multi", "2")])
    report.append("status line: %r" % ws.response.status_line)
    for name, value in ws.response.headers:
        if name.lower() in ("date", "server"):
            value = "..."
        elif name.lower() == "sec-websocket-accept":
            value = "(the key's)"
        report.append("%s: %s" % (name, value))
    first = ws.recv()
    report.append("first receive(): %s" % first.payload.decode())
    report.append("scope: %s" % ws.recv().payload.decode())
    close_and_report(ws, report)


# 1 MiB (sha256 of the numbers, 32 bytes each), and 100 KiB of text with
# characters of 1, 2, 3 and 4 bytes.
MIB = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(32768))
LONG_TEXT = ("aé€😀" * 10240)


@driver
def drive_echo(port, query, report):
    """Messages of each kind and size, some fragmented, and what came back:
    each must be one final frame, the same as sent."""
    ws = WebSocket.open(port, "/ws/echo")
    cases = [
        ("text 'hello'", [(TEXT, "hello", True)], TEXT, "hello".encode()),
        ("text of 1 to 4-byte characters", [(TEXT, "héllo, wörld ✓ 😀", True)], TEXT,
         "héllo, wörld ✓ 😀".encode()),
        ("binary", [(BINARY, b"\x00\x01\xfe\xff", True)], BINARY, b"\x00\x01\xfe\xff"),
        ("empty text", [(TEXT, b"", True)], TEXT, b""),
        ("empty binary", [(BINARY, b"", True)], BINARY, b""),
        ("text in 3 fragments", [(TEXT, b"frag", False), (CONT, b"ment", False), (CONT, b"ed", True)],
         TEXT, b"fragmented"),
        ("text with a character split between fragments",
         [(TEXT, b"caf\xc3", False), (CONT, b"\xa9", False), (CONT, b"!", True)], TEXT, "café!".encode()),
        ("binary in 3 fragments, one empty", [(BINARY, b"\x01\x02", False), (CONT, b"", False),
                                              (CONT, b"\x03", True)], BINARY, b"\x01\x02\x03"),
        ("1 MiB binary", [(BINARY, MIB, True)], BINARY, MIB),
        ("1 MiB binary in 3 fragments", [(BINARY, MIB[:1000], False), (CONT, MIB[1000:600000], False),
                                         (CONT, MIB[600000:], True)], BINARY, MIB),
        ("100 KiB of text of 1 to 4-byte characters", [(TEXT, LONG_TEXT.encode(), True)], TEXT,
         LONG_TEXT.encode()),
    ]
    for name, frames, opcode, want in cases:
        for op, payload, fin in frames:
            ws.send_frame(op, payload, fin=fin)
        got = ws.recv()
        same = got.opcode == opcode and got.payload == want and got.fin
        report.append("%s: %s%s" % (name, got, "" if same else " (NOT what was sent)"))
    close_and_report(ws, report)


@driver
def drive_ping(port, query, report):
    """Pings are answered by nginx, with their payload, even between the
    fragments of a message; a Pong from the client is answered by nothing
    and never reaches the app."""
    ws = WebSocket.open(port, "/ws/echo")
    ws.send_frame(PING, b"are you there?")
    report.append("ping 'are you there?': %s" % ws.recv())
    ws.send_frame(PING, b"")
    report.append("empty ping: %s" % ws.recv())
    payload = bytes(range(125))
    ws.send_frame(PING, payload)
    got = ws.recv()
    report.append("ping of 125 bytes: %s, %s" % (
        ws_client.NAMES[got.opcode], "same payload" if got.payload == payload else "OTHER payload"))
    ws.send_frame(PONG, b"unsolicited")
    ws.send_text("after the pong")
    report.append("unsolicited pong, then text 'after the pong': %s" % ws.recv())
    ws.send_frame(TEXT, b"a", fin=False)
    ws.send_frame(PING, b"in between")
    ws.send_frame(CONT, b"b", fin=True)
    report.append("'a', ping 'in between', 'b': %s, then %s" % (ws.recv(), ws.recv()))
    close_and_report(ws, report)


@driver
def drive_ping_streaming(port, query, report):
    """A Ping while the app sends 20 messages of 1 MiB, into a client that
    reads slowly: the Pong must come whole, between two of the app's
    frames. Every frame is parsed and checked."""
    key = new_key()
    n, size = 20, 1 << 20
    ws = WebSocket.open(port, "/ws/stream?" + key, rcvbuf=65536)
    ws.send_text("%d %d" % (n, size))
    ws.fill(65536)  # well into the first message, which recv() parses later
    ws.send_frame(PING, b"ping while streaming")
    got, pong_after, bad = 0, None, []
    while True:
        f = ws.recv()
        if f.opcode == PONG:
            report.append("the Pong: %s, whole, between two of the app's frames" % f)
            pong_after = got
            continue
        if f.opcode == TEXT:
            report.append("then: %s" % f)
            break
        if f.opcode != BINARY or not f.fin or f.payload != numbered(got, size):
            bad.append(got)
        got += 1
    report.append("the app's messages: %d, each one final frame, exactly as sent: %s" % (
        got, "yes" if not bad else "NO (%s)" % bad))
    report.append("the Pong came before the app's last message: %s" % (
        "yes" if pong_after is not None and pong_after < n else "NO (%s)" % pong_after))
    close_and_report(ws, report)
    report.extend("the app: " + l for l in notes(key))


@driver
def drive_client_close(port, query, report):
    """?bye: a text, then Close 1000 "bye"; ?empty: a text, then an empty
    Close. The echo, and what the app received."""
    key = new_key()
    ws = WebSocket.open(port, "/ws/recorder?" + key)
    ws.send_text("before")
    if query == "bye":
        close_and_report(ws, report, 1000, "bye")
    else:
        ws.send_close()
        report.append("our empty Close: answered with %s" % ", ".join(map(str, ws.recv_until_close())))
        report.append("then the server closed the connection: %s" % ws.wait_eof())
    report.extend("the app received: " + l for l in notes(key))


@driver
def drive_app_close(port, query, report):
    """The app closes (4000, a reason): the client sees its frames and
    Close, answers with 4000, and the server closes the connection."""
    key = new_key()
    ws = WebSocket.open(port, "/ws/closer?" + key)
    report.append("received: %s" % ", ".join(map(str, ws.recv_until_close())))
    ws.send_close(4000)
    report.append("our Close 4000 in answer; then the server closed the connection: %s" % ws.wait_eof())
    report.extend("the app: " + l for l in notes(key))


@driver
def drive_unanswered_close(port, query, report):
    """The app closes, and the client never answers: the server closes
    the connection all the same (after 5 s)."""
    key = new_key()
    ws = WebSocket.open(port, "/ws/closer?" + key, timeout=15)
    report.append("received: %s" % ", ".join(map(str, ws.recv_until_close())))
    report.append("no answer; the server closed the connection: %s" % ws.wait_eof())
    report.extend("the app: " + l for l in notes(key, timeout=15))


@driver
def drive_until_close(port, query, report):
    """Opens TARGET (the query), reports its frames up to its Close, then
    answers it with the same code."""
    ws = WebSocket.open(port, query)
    frames = ws.recv_until_close()
    report.append("received: %s" % ", ".join(map(str, frames)))
    ws.send_close(frames[-1].close_code()[0])
    report.append("our Close in answer; then the server closed the connection: %s" % ws.wait_eof())


# What the client breaks, sent after a valid text "before".
BROKEN = {
    "unmasked": ("an unmasked frame", ws_client.frame(TEXT, b"unmasked", masked=False)),
    "utf8": ("a text that is not UTF-8", ws_client.frame(TEXT, b"caf\xc3\x28")),
    "utf8_fragments": ("a text that ends inside a character, over 2 fragments",
                       ws_client.frame(TEXT, b"caf", fin=False) + ws_client.frame(CONT, b"\xc3")),
    "too_big": ("a binary of 2 KiB", ws_client.frame(BINARY, b"x" * 2048)),
    "too_big_fragments": ("3 fragments of 512 bytes",
                          ws_client.frame(BINARY, b"x" * 512, fin=False)
                          + ws_client.frame(CONT, b"x" * 512, fin=False)
                          + ws_client.frame(CONT, b"x" * 512)),
    "rsv1": ("a frame with RSV1", ws_client.frame(TEXT, b"x", rsv=4)),
    "opcode": ("a frame of opcode 3", ws_client.frame(3, b"")),
    "fragmented_ping": ("a ping without FIN", ws_client.frame(PING, b"x", fin=False)),
    "long_ping": ("a ping of 126 bytes", ws_client.frame(PING, b"x" * 126)),
    "continuation": ("a continuation of nothing", ws_client.frame(CONT, b"x")),
    "interleaved": ("a text inside a fragmented text",
                    ws_client.frame(TEXT, b"a", fin=False) + ws_client.frame(TEXT, b"b")),
    "close_1_byte": ("a close of 1 byte", ws_client.frame(CLOSE, b"\x03")),
    "close_1005": ("a close with the code 1005", ws_client.frame(CLOSE, b"\x03\xed")),
    "close_reason": ("a close whose reason is not UTF-8", ws_client.frame(CLOSE, b"\x03\xe8\xff")),
}


@driver
def drive_broken(port, query, report):
    """?TARGET?CASE,...: for each case (see BROKEN), a WebSocket to TARGET
    (a recorder): a text "before", then the broken frame; what the server
    answered, and what the app received."""
    target, _, cases = query.partition("?")
    for case in cases.split(","):
        what, data = BROKEN[case]
        key = new_key()
        ws = WebSocket.open(port, target + "?" + key)
        ws.send_text("before")
        ws.send(data)
        try:
            answer = ", ".join(map(str, ws.recv_until_close()))
        except (OSError, EOFError) as e:
            answer = "no Close (%s: %s)" % (type(e).__name__, e)
        report.append("%s: the server answered %s, then closed the connection: %s" % (
            what, answer, ws.wait_eof()))
        report.append("  the app received: %s" % ", ".join(notes(key)))
        ws.abort()


@driver
def drive_vanish(port, query, report):
    """The client reads "hello" and goes away without a Close."""
    key = new_key()
    ws = WebSocket.open(port, "/ws/vanish?" + key)
    report.append("received: %s; then the client closed its socket" % ws.recv())
    ws.abort()
    report.extend("the app: " + l for l in notes(key))


@driver
def drive_slow_reader(port, query, report):
    """The app sends 2048 messages of 64 KiB (128 MiB) to a client that
    reads 64 KiB and stops: the app's send() must wait. Its production
    settles (no change for 1 s) well under 512 messages (32 MiB: room for
    the socket buffers on the way); then the client reads everything, which
    must come whole and in order."""
    key = new_key()
    n, size, bound = 2048, 65536, 512
    ws = WebSocket.open(port, "/ws/stream?" + key, rcvbuf=16384)
    ws.send_text("%d %d" % (n, size))
    ws.fill(65536)
    last, same, settled = -1, 0, None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = _progress.get(key, 0)
        if now > bound:
            break
        if now == last:
            same += 1
            if same >= 10:
                settled = now
                break
        else:
            last, same = now, 0
    if settled is None:
        report.append("paused: NO (%d messages sent to a client that read 64 KiB)" % _progress.get(key, 0))
    else:
        report.append("paused: yes (well under 32 MiB ahead of the client)")
        print("asgi_ws: drive_slow_reader: the app paused after %d messages" % settled)
    bad, got = [], 0
    while True:
        f = ws.recv()
        if f.opcode != BINARY:
            report.append("then: %s" % f)
            break
        if not f.fin or f.payload != numbered(got, size):
            bad.append(got)
        got += 1
    report.append("the client read %d messages, whole and in order: %s" % (
        got, "yes" if not bad else "NO (%s)" % bad[:10]))
    close_and_report(ws, report)
    report.extend("the app: " + l for l in notes(key))


@driver
def drive_slow_app(port, query, report):
    """The app receives nothing until signalled, and the client sends
    numbered messages of 16 KiB without blocking: its sends must hit
    EAGAIN (the socket not writable for 1 s) before 64 MiB. Then the app
    receives, the client sends 64 more messages and closes: the app must
    have them all, in order."""
    key = new_key()
    size, bound = 16384, 64 << 20
    ws = WebSocket.open(port, "/ws/lazy?" + key, sndbuf=16384)
    sock = ws.sock
    sock.setblocking(False)
    i, sent, pending, blocked = 0, 0, b"", False
    while sent < bound:
        if not pending:
            pending = ws_client.frame(BINARY, numbered(i, size))
            i += 1
        try:
            n = sock.send(pending)
            pending = pending[n:]
            sent += n
        except BlockingIOError:
            _, writable, _ = select.select([], [sock], [], 1.0)
            if not writable:
                blocked = True
                break
    if blocked:
        report.append("the client's sends blocked: yes (before 64 MiB)")
        print("asgi_ws: drive_slow_app: the client blocked after %d bytes" % sent)
    else:
        report.append("the client's sends blocked: NO (64 MiB sent to an app that receives nothing)")
    sock.settimeout(10)
    signal(key)
    sock.sendall(pending)
    for _ in range(64):
        ws.send_binary(numbered(i, size))
        i += 1
    close_and_report(ws, report)
    got = notes(key)
    want = "%d messages, in order: yes" % i
    report.extend("the app: " + ("all the messages, in order" if l == want else l) for l in got)


@driver
def drive_early(port, query, report):
    """Frames sent before the client read the 101: with the handshake (in
    the same write), and after it while the app has not accepted yet."""
    ws = WebSocket.open(port, "/ws/echo", early=ws_client.frame(TEXT, "sent with the handshake"))
    report.append("with the handshake: %s" % ws.recv())
    close_and_report(ws, report)
    key = new_key()
    sock = ws_client.connect(port)
    wskey = ws_client.new_key()
    sock.sendall(ws_client.handshake("/ws/slow_accept?" + key, wskey))
    started = notes(key, until="started")
    sock.sendall(ws_client.frame(TEXT, "sent before the accept"))
    signal(key)
    ws = WebSocket(sock)
    response = ws.read_head()
    report.append("after the handshake, once the app had %s: %d, then %s" % (
        "started" if "started" in started else "NOT started (within 10 s)",
        response.status, ws.recv()))
    close_and_report(ws, report)


@driver
def drive_many(port, query, report):
    """100 WebSockets open at once, each echoing 5 messages, then closing."""
    n, messages = 100, 5
    barrier = threading.Barrier(n, timeout=15)
    results = [None] * n

    def one(c):
        try:
            ws = WebSocket.open(port, "/ws/echo", timeout=15)
            barrier.wait()
            for m in range(messages):
                text = "connection %d, message %d" % (c, m)
                ws.send_text(text)
                f = ws.recv()
                if f.opcode != TEXT or f.payload.decode() != text:
                    results[c] = "connection %d: message %d came back as %s" % (c, m, f)
                    return
            frames = ws.close()
            if [str(f) for f in frames] != ["close 1000 ''"] or ws.wait_eof() != "yes":
                results[c] = "connection %d: closed with %s" % (c, ", ".join(map(str, frames)))
                return
            results[c] = "ok"
        except Exception as e:
            results[c] = "connection %d: %s: %s" % (c, type(e).__name__, e)

    threads = [threading.Thread(target=one, args=(c,)) for c in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    for t in threads:
        t.join(max(0, deadline - time.monotonic()))
    failed = [r or "a connection not done within 30 s" for r in results if r != "ok"]
    report.append("%d WebSockets open at once, %d messages each echoed in order, then closed: %s" % (
        n, messages, "yes" if not failed else "NO, %d failed:" % len(failed)))
    report.extend(sorted(set(failed))[:10])


def http_get(port, path, headers=b""):
    """A GET on a connection of its own: status line and body."""
    s = ws_client.connect(port)
    try:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\n%sConnection: close\r\n\r\n"
                  % (path.encode(), headers))
        ws = WebSocket(s)
        head = ws.read_head()
        return "%s, %r" % (head.status_line, ws.read_rest())
    finally:
        s.close()


@driver
def drive_side_by_side(port, query, report):
    """wsgi_app and asgi_app in one server: WSGI requests while a
    WebSocket is open; a WebSocket handshake to the wsgi_app location is a
    plain request there."""
    report.append("GET /wsgi: %s" % http_get(port, "/wsgi"))
    ws = WebSocket.open(port, "/ws/echo")
    ws.send_text("one")
    report.append("WebSocket: %s" % ws.recv())
    report.append("GET /wsgi meanwhile: %s" % http_get(port, "/wsgi"))
    s = ws_client.connect(port)
    s.sendall(ws_client.handshake("/wsgi", ws_client.new_key()).replace(
        b"Connection: Upgrade", b"Connection: Upgrade, close"))
    raw = WebSocket(s)
    head = raw.read_head()
    report.append("a WebSocket handshake to /wsgi: %s, %r" % (head.status_line, raw.read_rest()))
    s.close()
    ws.send_text("two")
    report.append("WebSocket again: %s" % ws.recv())
    close_and_report(ws, report)


@driver
def drive_idle(port, query, report):
    """A WebSocket idle for 1 s on a location with wsgi_request_timeout
    200ms: it is still open, and echoes."""
    ws = WebSocket.open(port, query)
    ws.send_text("first")
    report.append("first: %s" % ws.recv())
    time.sleep(1)
    ws.send_text("after 1 s idle")
    report.append("then: %s" % ws.recv())
    close_and_report(ws, report)



@driver
def drive_silent(port, query, report):
    """Sends "hi" to a recorder, then stays silent and only reads: the
    server's frames up to its Close, whether it then closed the connection,
    and what the app received."""
    key = new_key()
    ws = WebSocket.open(port, "/ws/recorder?" + key, timeout=15)
    ws.send_text("hi")
    report.append("received: %s" % ", ".join(map(str, ws.recv_until_close())))
    report.append("then the server closed the connection: %s" % ws.wait_eof())
    report.extend("the app received: " + l for l in notes(key))


@driver
def drive_pong(port, query, report):
    """Answers every Ping with a Pong and sends nothing else for 3 s (six
    times asgi_websocket_timeout 500ms); the connection is still open and
    echoes."""
    ws = WebSocket.open(port, "/ws/echo", timeout=5)
    pings = 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if not ws.buf and not select.select([ws.sock], [], [], 0.05)[0]:
            continue
        f = ws.recv()
        if f.opcode != PING:
            report.append("unexpected: %s" % f)
            break
        pings += 1
        ws.send_frame(PONG, f.payload)
    report.append("Pings from the server in 3 s: %s" % ("at least 3" if pings >= 3 else pings))
    ws.send_text("still here")
    f = ws.recv()
    while f.opcode == PING:  # one may come before the echo
        ws.send_frame(PONG, f.payload)
        f = ws.recv()
    report.append("then: %s" % f)
    close_and_report(ws, report)


@driver
def drive_reload(port, query, report):
    """Opens a WebSocket to a recorder and sends "hi", then reloads nginx
    (SIGHUP to the master): this old worker closes the WebSocket with 1001
    and we answer; this request itself is still answered, as the worker
    finishes what it has."""
    key = new_key()
    ws = WebSocket.open(port, "/ws/recorder?" + key, timeout=15)
    ws.send_text("hi")
    notes(key, until="text 'hi'")
    os.kill(os.getppid(), SIGHUP)
    frames = ws.recv_until_close()
    report.append("after the reload: %s" % ", ".join(map(str, frames)))
    ws.send_close(frames[-1].close_code()[0])
    report.append("our Close in answer; then the server closed the connection: %s" % ws.wait_eof())
    report.extend("the app received: " + l for l in notes(key))


@driver
def drive_deaf(port, query, report):
    """The client of an app that never listens again goes away: the app's
    task is cancelled (5 s later), so it holds nothing."""
    key = new_key()
    ws = WebSocket.open(port, "/ws/deaf?" + key)
    notes(key, until="accepted")
    ws.abort()
    report.append("the client closed its socket")
    report.extend("the app: " + l for l in notes(key, timeout=15))
