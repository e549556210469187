#!/usr/bin/env python3
"""A recording uwsgi server, for tests: what does nginx send upstream?

    uwsgi_capture.py PORT OUTFILE SECONDS

Listens on 127.0.0.1:PORT (0: any free port). For each connection it reads
one uwsgi packet -- the 4-byte header (modifier1, datasize u16 LE,
modifier2), the variables block, then CONTENT_LENGTH bytes of body -- and
appends one JSON line to OUTFILE:

    {"modifier1": 0, "modifier2": 0, "datasize": 612,
     "vars": {"QUERY_STRING": "a=1", ...},      # the last value of a key
     "pairs": [["QUERY_STRING", "a=1"], ...],   # in order, repeats kept
     "packet": "<base64 of header + variables block>",
     "body_length": 5, "body_sha256": "<hex>"}

Keys and values are decoded as latin-1 (one code point per byte). The
line is written and flushed before the answer goes out, so a client that
has the answer can read the line. A packet that cannot be parsed gives a
line {"error": "..."} and the connection is closed without an answer.

The answer is "HTTP/1.1 200 OK", Content-Type text/plain, body
"captured\\n", then the connection is closed.

Connections are served on threads. The server exits by itself after
SECONDS (never runs unbounded). Once listening it prints
"listening PORT" on stdout (the real port when PORT is 0) and flushes.

Python 3 standard library only.
"""

import base64
import hashlib
import json
import socket
import socketserver
import struct
import sys
import threading

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\ncaptured\n"
# How long one connection may take to deliver its packet.
CONN_TIMEOUT = 30


class PacketError(Exception):
    pass


def read_exactly(sock, n, what):
    chunks = []
    while n > 0:
        chunk = sock.recv(min(n, 1 << 16))
        if not chunk:
            raise PacketError(f"connection closed with {n} bytes of the {what} missing")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def parse_vars(block):
    """The (key, value) byte pairs of a variables block, in order."""
    pairs = []
    pos = 0
    while pos < len(block):
        index = len(pairs)
        for_what = f"variable #{index} at offset {pos}"
        if pos + 2 > len(block):
            raise PacketError(f"{for_what}: key length past the block")
        (klen,) = struct.unpack_from("<H", block, pos)
        pos += 2
        if pos + klen > len(block):
            raise PacketError(f"{for_what}: key past the block")
        key = block[pos : pos + klen]
        pos += klen
        if pos + 2 > len(block):
            raise PacketError(f"{for_what}: value length past the block")
        (vlen,) = struct.unpack_from("<H", block, pos)
        pos += 2
        if pos + vlen > len(block):
            raise PacketError(f"{for_what}: value past the block")
        pairs.append((key, block[pos : pos + vlen]))
        pos += vlen
    return pairs


class Recorder:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def write(self, record):
        line = json.dumps(record, ensure_ascii=True) + "\n"
        with self.lock:
            with open(self.path, "a", encoding="ascii") as f:
                f.write(line)
                f.flush()


def capture(sock):
    """Reads one packet; returns the record to write."""
    header = read_exactly(sock, 4, "header")
    modifier1, datasize, modifier2 = struct.unpack("<BHB", header)
    block = read_exactly(sock, datasize, "variables block")
    pairs = parse_vars(block)
    text = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in pairs]
    record = {
        "modifier1": modifier1,
        "modifier2": modifier2,
        "datasize": datasize,
        "vars": dict(text),
        "pairs": [list(p) for p in text],
        "packet": base64.b64encode(header + block).decode("ascii"),
    }
    length = dict(pairs).get(b"CONTENT_LENGTH", b"")
    if length and not length.isdigit():
        raise PacketError(f"CONTENT_LENGTH is not a number: {length!r}")
    remaining = int(length) if length else 0
    digest = hashlib.sha256()
    received = 0
    while remaining > 0:
        chunk = sock.recv(min(remaining, 1 << 16))
        if not chunk:
            raise PacketError(
                f"connection closed after {received} of {received + remaining} body bytes"
            )
        digest.update(chunk)
        received += len(chunk)
        remaining -= len(chunk)
    record["body_length"] = received
    record["body_sha256"] = digest.hexdigest()
    return record


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        sock.settimeout(CONN_TIMEOUT)
        try:
            record = capture(sock)
        except (PacketError, OSError) as e:
            self.server.recorder.write({"error": str(e)})
            return
        self.server.recorder.write(record)
        try:
            sock.sendall(ANSWER)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    port, path, seconds = int(argv[1]), argv[2], float(argv[3])
    if not 0 < seconds <= 24 * 3600:
        sys.stderr.write("SECONDS must be in (0, 86400]\n")
        return 2
    server = Server(("127.0.0.1", port), Handler)
    server.recorder = Recorder(path)
    # Exit after the time limit, whatever happens.
    timer = threading.Timer(seconds, server.shutdown)
    timer.daemon = True
    timer.start()
    print(f"listening {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
