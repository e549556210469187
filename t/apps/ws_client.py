"""A minimal WebSocket (RFC 6455) client, for the drivers of asgi_ws.py.

Standard library only (the plain suites run under Debian's python3 alone).
It does what a test needs and no more:

- the opening handshake, with a random key, whose 101 and
  Sec-WebSocket-Accept it checks (`WebSocket.open`; `handshake` for the
  request alone, to send it raw or broken);
- frames as a client sends them, with FIN, opcode and RSV bits chosen by
  the caller and masked unless told otherwise (`frame`): a message can be
  fragmented, a frame broken on purpose;
- the server's frames, each parsed and refused (`BadFrame`) if it breaks
  the protocol: a mask, RSV bits, an unknown opcode, a fragmented or long
  control frame (`WebSocket.recv`);
- the closing handshake (`WebSocket.close`, `WebSocket.wait_eof`).

Every read has the socket's timeout (5 s): a failing server cannot hang a
driver, and nothing here measures time.
"""

import base64
import hashlib
import os
import socket
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
NAMES = {CONT: "continuation", TEXT: "text", BINARY: "binary",
         CLOSE: "close", PING: "ping", PONG: "pong"}


class BadFrame(Exception):
    """The server sent a frame RFC 6455 does not allow."""


class HandshakeFailed(Exception):
    """The server did not switch protocols (or switched wrongly)."""

    def __init__(self, why, response=None):
        super().__init__(why)
        self.response = response


def accept_key(key):
    """The Sec-WebSocket-Accept that answers `key` (a str)."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def mask(payload, key):
    """`payload` XOR the 4-byte `key`, repeated (as one big integer: fast
    enough for megabytes)."""
    n = len(payload)
    if n == 0:
        return b""
    keys = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(keys, "big")).to_bytes(n, "big")


def frame(opcode, payload=b"", fin=True, rsv=0, masked=True):
    """One frame as a client sends it: masked with a random key unless
    `masked` is false; `rsv` is RSV1-3 as 0b0xyz."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    m = 0x80 if masked else 0
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + mask(payload, key)


def close_payload(code=None, reason=""):
    """A Close frame's payload: nothing, or the code and the reason."""
    if code is None:
        return b""
    return struct.pack("!H", code) + reason.encode()


def handshake(path, key, protocols=(), headers=(), version="13", method="GET"):
    """The bytes of an opening handshake (None as `key` or `version`:
    that header left out)."""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: localhost",
             "Upgrade: websocket", "Connection: Upgrade"]
    if key is not None:
        lines.append("Sec-WebSocket-Key: %s" % key)
    if version is not None:
        lines.append("Sec-WebSocket-Version: %s" % version)
    if protocols:
        lines.append("Sec-WebSocket-Protocol: %s" % ", ".join(protocols))
    lines.extend("%s: %s" % h for h in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def connect(port, rcvbuf=None, sndbuf=None, timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # before connect(): fixed small buffers, no autotuning
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if sndbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", int(port)))
    return s


class Response:
    """An HTTP response head: `status` (an int), `status_line`, `headers`
    as (name, value) pairs in order."""

    def __init__(self, raw):
        lines = raw.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        parts = lines[0].split(" ", 2)
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        self.headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers.append((name.strip(), value.strip()))

    def get(self, name):
        """The values of header `name` (any case)."""
        return [v for n, v in self.headers if n.lower() == name.lower()]


class Frame:
    def __init__(self, fin, opcode, payload):
        self.fin, self.opcode, self.payload = fin, opcode, payload

    def close_code(self):
        """A Close frame's (code, reason); (None, '') for an empty one."""
        if len(self.payload) < 2:
            return None, ""
        return struct.unpack("!H", self.payload[:2])[0], self.payload[2:].decode("utf-8", "replace")

    def __str__(self):
        """"text 'hi'", "binary 1048576 bytes, sha256 1a2b3c4d5e6f7a8b",
        "close 1000 'bye'", "close (empty)"; "(not final)" if FIN is not
        set."""
        name = NAMES.get(self.opcode, "opcode %#x" % self.opcode)
        if self.opcode == CLOSE:
            code, reason = self.close_code()
            what = "close (empty)" if code is None else "close %d %r" % (code, reason)
        elif self.opcode == TEXT and len(self.payload) <= 64:
            what = "text %r" % self.payload.decode("utf-8", "replace")
        elif len(self.payload) <= 32:
            what = "%s %r" % (name, bytes(self.payload))
        else:
            what = "%s %d bytes, sha256 %s" % (
                name, len(self.payload), hashlib.sha256(self.payload).hexdigest()[:16])
        return what if self.fin else what + " (not final)"


class WebSocket:
    """A client's end of a WebSocket: `sock`, and `response`, the 101's
    head."""

    def __init__(self, sock, response=None, buf=b""):
        self.sock = sock
        self.response = response
        self.buf = bytearray(buf)

    @classmethod
    def open(cls, port, path, protocols=(), headers=(), early=b"", rcvbuf=None,
             sndbuf=None, timeout=5):
        """Connect and shake hands: the request (and `early`, bytes sent in
        the same write right after it), then the response's head, which must
        be a 101 with the right Sec-WebSocket-Accept (else HandshakeFailed,
        with the response)."""
        sock = connect(port, rcvbuf, sndbuf, timeout)
        key = new_key()
        try:
            sock.sendall(handshake(path, key, protocols, headers) + early)
            ws = cls(sock)
            response = ws.read_head()
            ws.response = response
            if response.status != 101:
                raise HandshakeFailed("no 101: %s" % response.status_line, response)
            if response.get("Sec-WebSocket-Accept") != [accept_key(key)]:
                raise HandshakeFailed("wrong Sec-WebSocket-Accept: %r for %r"
                                      % (response.get("Sec-WebSocket-Accept"), accept_key(key)),
                                      response)
            return ws
        except BaseException:
            sock.close()
            raise

    def read_head(self):
        """The HTTP response head (the bytes after it stay in the buffer)."""
        while b"\r\n\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise HandshakeFailed("the connection closed before a complete head (%r)"
                                      % bytes(self.buf[:80]))
            self.buf += data
        end = self.buf.index(b"\r\n\r\n")
        head = bytes(self.buf[:end])
        del self.buf[:end + 4]
        return Response(head)

    def read_rest(self):
        """Everything until the server closes the connection."""
        while True:
            data = self.sock.recv(65536)
            if not data:
                break
            self.buf += data
        rest = bytes(self.buf)
        del self.buf[:]
        return rest

    def fill(self, n):
        """Read until `n` bytes wait in the buffer, left for recv() to
        parse (a client that has read that far)."""
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("the connection closed")
            self.buf += data

    def _read(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(max(65536, n - len(self.buf)))
            if not data:
                raise EOFError("the connection closed in the middle of a frame"
                               if self.buf else "the connection closed")
            self.buf += data
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def send(self, data):
        self.sock.sendall(data)

    def send_frame(self, opcode, payload=b"", fin=True, rsv=0, masked=True):
        self.sock.sendall(frame(opcode, payload, fin, rsv, masked))

    def send_text(self, text):
        self.send_frame(TEXT, text.encode())

    def send_binary(self, data):
        self.send_frame(BINARY, data)

    def send_close(self, code=None, reason=""):
        self.send_frame(CLOSE, close_payload(code, reason))

    def recv(self):
        """The server's next frame; BadFrame if it breaks the protocol."""
        b0, b1 = self._read(2)
        fin, rsv, opcode = bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F
        masked, n = bool(b1 & 0x80), b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        if masked:
            raise BadFrame("a server frame is masked")
        if rsv:
            raise BadFrame("a server frame has RSV bits %#05b" % rsv)
        if opcode not in NAMES:
            raise BadFrame("a server frame has the opcode %#x" % opcode)
        if opcode >= CLOSE and (not fin or n > 125):
            raise BadFrame("a %s frame that is fragmented or over 125 bytes (%d)"
                           % (NAMES[opcode], n))
        if opcode == CLOSE and n == 1:
            raise BadFrame("a close frame of 1 byte")
        f = Frame(fin, opcode, self._read(n))
        if opcode == CLOSE and n >= 2:
            code = f.close_code()[0]
            if not (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999):
                raise BadFrame("a close frame with the code %d" % code)
            try:
                f.payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                raise BadFrame("a close frame whose reason is not UTF-8")
        if opcode == TEXT and fin:
            try:
                f.payload.decode("utf-8")
            except UnicodeDecodeError:
                raise BadFrame("a text frame that is not UTF-8")
        return f

    def recv_until_close(self):
        """Frames up to the server's Close (included)."""
        frames = []
        while True:
            f = self.recv()
            frames.append(f)
            if f.opcode == CLOSE:
                return frames

    def close(self, code=1000, reason=""):
        """Our Close, then the frames up to the server's (included)."""
        self.send_close(code, reason)
        return self.recv_until_close()

    def wait_eof(self):
        """After the closing handshake: "yes" if the server closes the
        connection with nothing more, else what it did."""
        try:
            data = self.read_rest()
        except socket.timeout:
            return "NO (still open after 5 s)"
        except ConnectionResetError:
            return "reset"
        return "yes" if not data else "yes, after %d more bytes: %r" % (len(data), data[:40])

    def abort(self):
        self.sock.close()
