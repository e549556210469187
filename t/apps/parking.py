"""Slow clients and the Python threads, for t/wsgi-parking.t.

A response whose client is behind must not hold a Python thread: an
iterable parks (and goes on, on any thread, once the client has caught
up); write(), which must block, spills to a temp file. The drivers act as
the slow clients themselves: they open raw sockets to the same nginx, stop
reading, and meanwhile ask for something else that needs a thread. Without
parking or spilling, that request could never be served while the slow
clients do not read, so the drivers' only waits are safety timeouts for a
failing server; no result depends on how long something took.
"""

import hashlib
import os
import socket
import threading
import time

from streaming import CHUNK, _connect, chunk, parse_responses

lock = threading.Lock()
# Streams that began and were not closed yet.
open_streams = [0]
# write(): bytes accepted so far, and whether the app returned.
written = [0]
write_done = threading.Event()


class Stream:
    """N chunks of 64 KiB (chunk i of streaming.chunk); counted while open."""

    def __init__(self, n):
        self.n = n
        with lock:
            open_streams[0] += 1

    def __iter__(self):
        for i in range(self.n):
            yield chunk(i % 256)

    def close(self):
        with lock:
            open_streams[0] -= 1


def stream(environ, start_response):
    """GET /stream?N: N chunks from a generator (chunked)."""
    n = int(environ.get("QUERY_STRING") or "256")
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return Stream(n)


class ListStream(list):
    """The same N chunks, as a list (all in memory); counted while open."""

    def close(self):
        with lock:
            open_streams[0] -= 1


def stream_list(environ, start_response):
    """GET /stream_list?N: the same body as a list with a Content-Length."""
    n = int(environ.get("QUERY_STRING") or "256")
    with lock:
        open_streams[0] += 1
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(n * CHUNK))])
    return ListStream(chunk(i % 256) for i in range(n))


def inside(environ, start_response):
    """How many streams are open (begun, not closed) right now."""
    with lock:
        n = open_streams[0]
    body = ("open streams: %d\n" % n).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def big_write(environ, start_response):
    """GET /big_write?N: N chunks through write(); notes its progress."""
    n = int(environ.get("QUERY_STRING") or "1024")
    with lock:
        written[0] = 0
    write_done.clear()
    write = start_response("200 OK", [("Content-Type", "application/octet-stream")])
    for i in range(n):
        write(chunk(i % 256))
        with lock:
            written[0] += CHUNK
    write_done.set()
    return []


def _expected(n):
    h = hashlib.sha256()
    for i in range(n):
        h.update(chunk(i % 256))
    return h.hexdigest()


def _read_all(s):
    data = bytearray()
    try:
        while True:
            got = s.recv(1 << 20)
            if not got:
                break
            data += got
    except socket.timeout:
        pass
    return bytes(data)


def _describe(data, n):
    """One line: the response's framing and whether its body is whole."""
    desc = parse_responses(data, ["GET"])[0]
    return desc.replace("sha256 %s" % _expected(n), "the expected %d chunks" % n)


def drive_slow_readers(environ, start_response):
    """GET /drive_slow_readers?K&N&/PATH: K clients ask for PATH?N (N chunks
    of 64 KiB) and read only its first bytes; then, while none of them
    reads, /inside is asked how many streams are open; then the clients
    read everything. With K slow readers and fewer threads than K, /inside
    only gets a thread if the slow responses do not hold theirs."""
    k, n, path = environ["QUERY_STRING"].split("&")
    k, n = int(k), int(n)
    report = []
    socks = []
    try:
        for _ in range(k):
            s = _connect(environ, rcvbuf=16384)
            s.settimeout(30)
            s.sendall(b"GET %s?%d HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                      % (path.encode(), n))
            socks.append(s)
        # Each has begun: its head and first bytes have arrived.
        firsts = [s.recv(4096) for s in socks]
        report.append("slow readers started: %d of %d"
                      % (sum(1 for f in firsts if f.startswith(b"HTTP/1.1 200")), k))
        probe = _connect(environ)
        probe.settimeout(30)
        probe.sendall(b"GET /inside HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        answer = _read_all(probe)
        probe.close()
        body = answer.partition(b"\r\n\r\n")[2].decode().strip()
        report.append("/inside answered while they stream: %s" % (body or "NO (timed out)"))
        # Now they read: every byte must arrive.
        tally = {}
        for s, first in zip(socks, firsts):
            line = _describe(first + _read_all(s), n)
            tally[line] = tally.get(line, 0) + 1
        for line, count in sorted(tally.items()):
            report.append("%d x %s" % (count, line))
    finally:
        for s in socks:
            s.close()
    body = ("\n".join(report) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def drive_slow_write(environ, start_response):
    """GET /drive_slow_write?N: a client asks for /big_write?N (N chunks
    through write()) and reads only its first bytes. Without spilling,
    write() would wait for this client forever; with it, the app returns.
    Then the client reads everything."""
    n = int(environ["QUERY_STRING"])
    s = _connect(environ, rcvbuf=16384)
    s.settimeout(30)
    report = []
    try:
        s.sendall(b"GET /big_write?%d HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % n)
        first = s.recv(4096)
        done = write_done.wait(30)
        report.append("write() returned for every chunk while the client did not read: %s"
                      % ("yes" if done else "NO (%d bytes written in 30 s)" % written[0]))
        report.append(_describe(first + _read_all(s), n))
    finally:
        s.close()
    body = ("\n".join(report) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def drive_bounded_write(environ, start_response):
    """GET /drive_bounded_write?N&LIMIT[&DIR]: as drive_slow_write, but the
    spill file may hold only LIMIT bytes: write() must stop there and wait,
    and go on once the client reads. How far it got settles (no change for
    1 s) before the client reads. With DIR, the directory DIR of the server
    root is removed first, as an admin might remove a temp path."""
    n, limit, *gone = environ["QUERY_STRING"].split("&")
    n, limit = int(n), int(limit)
    if gone:
        root = os.path.dirname(environ["DOCUMENT_ROOT"].rstrip("/"))
        os.rmdir(os.path.join(root, gone[0]))
    s = _connect(environ, rcvbuf=16384)
    s.settimeout(30)
    report = []
    try:
        s.sendall(b"GET /big_write?%d HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % n)
        first = s.recv(4096)
        last, same = -1, 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and same < 10:
            time.sleep(0.1)
            now = written[0]
            same = same + 1 if now == last else 0
            last = now
        # The bound, plus what memory (wsgi_buffer_size) and the socket
        # buffers on the way hold.
        ahead = limit + (4 << 20)
        report.append("write() stopped near the temp file bound: %s"
                      % ("yes" if same >= 10 and not write_done.is_set() and last <= ahead
                         else "NO (%d bytes written, done: %s)" % (last, write_done.is_set())))
        report.append(_describe(first + _read_all(s), n))
        report.append("write() returned once the client read: %s"
                      % ("yes" if write_done.wait(30) else "NO"))
    finally:
        s.close()
    body = ("\n".join(report) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]

