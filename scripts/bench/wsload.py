"""The WebSocket load client of scripts/bench.sh (wrk has no WebSockets).

  python3 wsload.py --port P --path /ws [--connections 64] [--processes 2]
                    [--size 32] [--warmup 1] [--duration 5]
  python3 wsload.py --check --port P --path /ws

Opens --connections WebSockets to 127.0.0.1:P (RFC 6455 handshake, no
extensions), spread over --processes client processes, each one asyncio
loop (uvloop's when it imports), and on each connection sends a text
message of --size bytes and waits for its echo, over and over: one message
in flight per connection, as wrk has one request in flight per connection.
The first --warmup seconds are not counted; then for --duration seconds
every echo that arrives is counted with its round trip (from the send of
the message to the arrival of its echo). After that each connection waits
up to 5 s for the echo still in flight (one that never comes is a lost
message, counted as a timeout), then closes with 1000 and waits up to 2 s
for the server's Close.

The client is written against raw sockets (asyncio protocols, no per-message
coroutine or frame object): its frames are built once (a fixed set of
masking keys, cycled, which servers do not check), and an echo is compared
with the expected bytes before any parsing. It pays its part of the
loopback traffic, the parse of what is not that fast path, and the Python
call per message; how much CPU that is, in cores and per message, is in its
output, so that a run can show it is not the limit.

stdout, for bench.py: "START" when the measured window begins, "END" when it
ends (so that the servers' CPU time is read at the same moments), then one
line "BENCH {json}" with messages, duration_us, p50_us, p99_us, max_us,
the errors by kind, the client's CPU during the window, and its event loop.
--check: one connection, one message, its echo, a clean close; exit 0, or
1 with the reason on stderr.

Bounded: every wait has a deadline, and the whole run ends by warmup +
duration + 30 s whatever the server does. The children are forked into the
parent's process group, so that bench.py stops them all with it.
"""
import argparse
import array
import asyncio
import base64
import gc
import hashlib
import json
import os
import select
import signal
import struct
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CLK_TCK = os.sysconf("SC_CLK_TCK")
DRAIN = 5.0        # seconds to wait, after the window, for the echoes in flight
CLOSE_WAIT = 2.0   # seconds to wait for the server's Close
CONNECT_WAIT = 10.0
ERROR_KINDS = ("connect", "read", "mismatch", "protocol", "closed", "timeout")


def new_loop():
    try:
        import uvloop
        return uvloop.new_event_loop(), "uvloop"
    except ImportError:
        return asyncio.new_event_loop(), "asyncio"


def mask(payload, key):
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def client_frame(opcode, payload, key=None):
    """A masked frame, FIN set."""
    key = key or os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + key + mask(payload, key)


def server_frame(opcode, payload):
    """The unmasked frame a server sends for payload (what an echo must be)."""
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", 0x80 | opcode, n) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, n) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, n) + payload


class Conn(asyncio.Protocol):
    """One WebSocket: the handshake, then send / await echo until the end."""

    def __init__(self, run, host, path):
        self.run = run
        self.transport = None
        self.buf = b""
        self.frag = None
        self.state = "handshake"
        self.key = base64.b64encode(os.urandom(16))
        self.request = (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + host.encode() +
                        b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Key: " + self.key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.accept = base64.b64encode(hashlib.sha1(self.key + GUID).digest())
        self.ready = run.loop.create_future()
        self.closed = run.loop.create_future()
        self.sent_at = 0.0
        self.in_flight = False
        self.finished = False
        self.i = 0

    # -- asyncio
    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc):
        if self.state == "handshake":
            self.fail("connect", f"connection lost in the handshake: {exc}")
        elif self.state in ("open", "run", "drain", "done"):
            self.fail("read", f"connection lost: {exc or 'EOF'}")
        elif self.state == "closing":
            self.run.unclean += 1   # gone without the server's Close
        if self.state != "closed":
            self.state = "gone"
        if not self.closed.done():
            self.closed.set_result(None)

    def eof_received(self):
        return False

    def data_received(self, data):
        if self.state == "run" and not self.buf and data == self.run.echo:
            self.echoed()       # the fast path: exactly one whole echo
            return
        if self.buf:
            data = self.buf + data
            self.buf = b""
        if self.state == "handshake":
            end = data.find(b"\r\n\r\n")
            if end < 0:
                if len(data) > 16384:
                    self.fail("connect", "no end of the handshake's response in 16 KiB")
                    self.transport.abort()
                self.buf = data
                return
            head, data = data[:end], data[end + 4:]
            lines = head.split(b"\r\n")
            status = lines[0].split(b" ")
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(b":")
                headers[k.strip().lower()] = v.strip()
            if len(status) < 2 or status[1] != b"101" or headers.get(b"sec-websocket-accept") != self.accept:
                self.fail("connect", f"handshake: {lines[0].decode(errors='replace')}, "
                                     f"accept {headers.get(b'sec-websocket-accept')!r}")
                self.transport.abort()
                return
            self.state = "open"
            self.ready.set_result(None)
            if not data:
                return
        self.parse(data)

    # -- frames
    def parse(self, data):
        i, n = 0, len(data)
        while n - i >= 2:
            b0, b1 = data[i], data[i + 1]
            if b1 & 0x80:
                return self.protocol("a masked frame from the server")
            ln, h = b1 & 0x7F, 2
            if ln == 126:
                if n - i < 4:
                    break
                ln, h = int.from_bytes(data[i + 2:i + 4], "big"), 4
            elif ln == 127:
                if n - i < 10:
                    break
                ln, h = int.from_bytes(data[i + 2:i + 10], "big"), 10
            if n - i < h + ln:
                break
            payload = data[i + h:i + h + ln]
            i += h + ln
            op, fin = b0 & 0x0F, b0 & 0x80
            if op == 0x9:
                self.transport.write(client_frame(0xA, payload))
            elif op == 0xA:
                pass
            elif op == 0x8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if self.state != "closing":
                    self.fail("closed", f"the server closed with {code} {payload[2:]!r}")
                    self.transport.write(client_frame(0x8, payload[:2]))
                self.state = "closed"
                self.transport.close()
                return
            elif op in (0x1, 0x2, 0x0):
                if op != 0x0:
                    if self.frag is not None:
                        return self.protocol("a new message inside a fragmented one")
                    self.frag = (op, payload)
                elif self.frag is None:
                    return self.protocol("a continuation frame outside a message")
                else:
                    self.frag = (self.frag[0], self.frag[1] + payload)
                if fin:
                    op, payload = self.frag
                    self.frag = None
                    if op != 0x1 or payload != self.run.payload:
                        self.run.error("mismatch", f"echo {op:#x} {payload[:40]!r}, expected the text sent")
                    self.echoed()
                    if self.state not in ("run", "drain"):
                        return
            else:
                return self.protocol(f"opcode {op:#x}")
        self.buf = data[i:]

    def protocol(self, why):
        self.fail("protocol", why)
        self.state = "gone"
        self.transport.abort()

    def fail(self, kind, why):
        self.run.error(kind, why)
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(why))
        self.finish()

    def finish(self):
        """This connection has no more to do in the load (once)."""
        if self.state in ("run", "drain") and not self.finished:
            self.finished = True
            self.run.done_one()

    # -- the load
    def send(self, now):
        r = self.run
        self.i = (self.i + 1) % len(r.frames)
        self.sent_at = now
        self.in_flight = True
        self.transport.write(r.frames[self.i])

    def echoed(self):
        r = self.run
        now = r.clock()
        self.in_flight = False
        if self.state == "run" or self.state == "drain":
            if r.t0 <= now < r.t1:
                r.count += 1
                r.lat.append(int((now - self.sent_at) * 1e6))
            if now < r.t1 and self.state == "run":
                self.send(now)
                return
            self.finish()
            self.state = "done"

    def close(self):
        if self.state in ("done", "open", "drain", "run"):
            self.state = "closing"
            self.transport.write(client_frame(0x8, struct.pack("!H", 1000)))


class Run:
    """One process's connections and counts."""

    def __init__(self, loop, port, path, n, size):
        self.loop = loop
        self.clock = time.monotonic
        self.port, self.path, self.n = port, path, n
        self.payload = (b"0123456789abcdefghijklmnopqrstuvwxyz" * (size // 36 + 1))[:size]
        self.frames = [client_frame(0x1, self.payload) for _ in range(16)]
        self.echo = server_frame(0x1, self.payload)
        self.conns = []
        self.count = 0
        self.lat = array.array("I")
        self.errors = dict.fromkeys(ERROR_KINDS, 0)
        self.first = {}
        self.t0 = self.t1 = 0.0
        self.pending = 0
        self.unclean = 0
        self.all_done = loop.create_future()

    def error(self, kind, why):
        self.errors[kind] += 1
        self.first.setdefault(kind, why)

    def done_one(self):
        self.pending -= 1
        if self.pending <= 0 and not self.all_done.done():
            self.all_done.set_result(None)

    async def connect_one(self):
        c = Conn(self, f"127.0.0.1:{self.port}", self.path)
        try:
            await asyncio.wait_for(self.loop.create_connection(lambda: c, "127.0.0.1", self.port), CONNECT_WAIT)
            await asyncio.wait_for(c.ready, CONNECT_WAIT)
        except (OSError, asyncio.TimeoutError, ConnectionError) as e:
            if not c.ready.done() or not c.ready.exception():
                self.error("connect", f"{type(e).__name__}: {e}")
            if c.transport:
                c.transport.abort()
            return None
        return c

    async def connect(self):
        conns = await asyncio.gather(*(self.connect_one() for _ in range(self.n)))
        self.conns = [c for c in conns if c is not None]

    async def load(self, t0, t1):
        self.t0, self.t1 = t0, t1
        live = [c for c in self.conns if c.state == "open"]
        self.pending = len(live)
        now = self.clock()
        for c in live:
            c.state = "run"
            c.send(now)
        if not live:
            return
        # the window's end: connections whose echo is in flight then finish on its arrival
        await asyncio.sleep(max(0.0, t1 - self.clock()))
        for c in live:
            if c.state == "run":
                c.state = "drain"
        try:
            await asyncio.wait_for(asyncio.shield(self.all_done), DRAIN)
        except asyncio.TimeoutError:
            pass
        for c in live:
            if c.state == "drain" and c.in_flight:
                self.error("timeout", f"no echo within {DRAIN:.0f} s after the window (a lost message)")

    async def close(self):
        for c in self.conns:
            c.close()
        waits = [c.closed for c in self.conns if not c.closed.done()]
        if waits:
            await asyncio.wait(waits, timeout=CLOSE_WAIT)
        for c in self.conns:
            if c.transport and not c.transport.is_closing():
                c.transport.abort()


def child(idx, n, args, ctl_r, res_w):
    """One client process: connect, say so, take the window, load, report."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    gc.disable()   # nothing here makes cycles; no collection pauses in the window
    loop, loop_name = new_loop()
    asyncio.set_event_loop(loop)
    run = Run(loop, args.port, args.path, n, args.size)
    loop.run_until_complete(run.connect())
    os.write(res_w, b"R")
    t0, t1 = struct.unpack("!dd", read_exact(ctl_r, 16, time.monotonic() + 60))
    loop.run_until_complete(run.load(t0, t1))
    loop.run_until_complete(run.close())
    out = json.dumps(dict(count=run.count, errors=run.errors, first=run.first, loop=loop_name,
                          connected=len(run.conns), unclean=run.unclean)).encode()
    data = struct.pack("!II", len(out), len(run.lat) * 4) + out + run.lat.tobytes()
    view = memoryview(data)
    while view:
        k = os.write(res_w, view)
        view = view[k:]
    os.close(res_w)
    loop.close()


def read_exact(fd, n, deadline):
    data = b""
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError("no answer from the other process")
        chunk = os.read(fd, n - len(data))
        if not chunk:
            raise EOFError("the other process went away")
        data += chunk
    return data


def read_all(fd, deadline):
    parts = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError("a client process did not report in time")
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total


def percentile(sorted_xs, p):
    if not sorted_xs:
        return 0
    return sorted_xs[min(len(sorted_xs) - 1, int(len(sorted_xs) * p / 100))]


def load(args):
    procs = max(1, min(args.processes, args.connections))
    end = time.monotonic() + args.warmup + args.duration + 30   # the whole run's bound
    kids = []   # (pid, ctl_w, res_r)
    for i in range(procs):
        n = args.connections // procs + (1 if i < args.connections % procs else 0)
        ctl_r, ctl_w = os.pipe()
        res_r, res_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(ctl_w)
                os.close(res_r)
                child(i, n, args, ctl_r, res_w)
            except BaseException as e:
                print(f"wsload: client process {i}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
                code = 1
            os._exit(code)
        os.close(ctl_r)
        os.close(res_w)
        kids.append((pid, ctl_w, res_r))
    try:
        for _, _, res_r in kids:
            if read_exact(res_r, 1, time.monotonic() + CONNECT_WAIT * 2 + 5) != b"R":
                raise RuntimeError("a client process failed to connect")
        t0 = time.monotonic() + args.warmup + 0.05
        t1 = t0 + args.duration
        for _, ctl_w, _ in kids:
            os.write(ctl_w, struct.pack("!dd", t0, t1))
        pids = [k[0] for k in kids]
        time.sleep(max(0.0, t0 - time.monotonic()))
        c0, w0 = cpu_ticks(pids), time.monotonic()
        print("START", flush=True)
        time.sleep(max(0.0, t1 - time.monotonic()))
        c1, w1 = cpu_ticks(pids), time.monotonic()
        print("END", flush=True)
        count, errors, first, lat, loops, connected, unclean = \
            0, dict.fromkeys(ERROR_KINDS, 0), {}, array.array("I"), set(), 0, 0
        for pid, _, res_r in kids:
            data = read_all(res_r, end)
            if len(data) < 8:
                raise RuntimeError("a client process ended without its counts")
            jn, ln = struct.unpack("!II", data[:8])
            r = json.loads(data[8:8 + jn])
            lat.frombytes(data[8 + jn:8 + jn + ln])
            count += r["count"]
            connected += r["connected"]
            unclean += r["unclean"]
            loops.add(r["loop"])
            for k, v in r["errors"].items():
                errors[k] += v
            for k, v in r["first"].items():
                first.setdefault(k, v)
    except BaseException:
        for pid, _, _ in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        raise
    finally:
        for pid, ctl_w, res_r in kids:
            for fd in (ctl_w, res_r):
                try:
                    os.close(fd)
                except OSError:
                    pass
        for pid, _, _ in kids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    xs = sorted(lat)
    secs = w1 - w0
    cpu = (c1 - c0) / CLK_TCK
    print("BENCH " + json.dumps(dict(
        messages=count, duration_us=int(secs * 1e6), p50_us=percentile(xs, 50), p99_us=percentile(xs, 99),
        max_us=xs[-1] if xs else 0, errors=errors, first_error=first, connected=connected,
        unclean_closes=unclean,
        connections=args.connections, processes=procs, loop="/".join(sorted(loops)),
        client_cpu_s=cpu, client_cores=cpu / secs if secs else 0.0,
        client_us_per_msg=cpu * 1e6 / count if count else 0.0)), flush=True)


def check(args):
    loop, _ = new_loop()
    asyncio.set_event_loop(loop)
    run = Run(loop, args.port, args.path, 1, args.size)

    async def once():
        await run.connect()
        if not run.conns:
            raise RuntimeError(f"no WebSocket: {run.first}")
        t = run.clock()
        await run.load(t, t + 0.001)   # one message: the window ends before its echo
        if run.errors["timeout"] or any(run.errors.values()):
            raise RuntimeError(f"errors {run.errors}: {run.first}")
        await run.close()
        if not run.conns[0].closed.done() or run.conns[0].state != "closed":
            raise RuntimeError(f"the server did not answer the Close (state {run.conns[0].state})")

    try:
        loop.run_until_complete(asyncio.wait_for(once(), 20))
    except Exception as e:
        print(f"wsload --check: ws://127.0.0.1:{args.port}{args.path}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        loop.close()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/ws")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--size", type=int, default=32, help="bytes of each text message (default 32)")
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    if args.check:
        sys.exit(check(args))
    if args.duration <= 0 or args.duration > 600 or args.connections < 1 or args.connections > 4096:
        ap.error("--duration: 0 to 600 s; --connections: 1 to 4096")
    load(args)


if __name__ == "__main__":
    main()
