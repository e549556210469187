"""The client side of t/uwsgi-streaming.t: asks for the container's
/drip, which yields its second and third lines only once this client has
said (with a flag file) that it has the line before. Lines that arrive one
at a time were passed on as the app produced them; lines that arrive
together were held by the proxy until the app gave up waiting."""

import os
import socket
import tempfile

from streaming import _connect


def drip(environ, start_response):
    """GET /drip?/PREFIX/&WAIT[&noaccel]: GET /PREFIX/drip and reports how
    the three lines arrived."""
    prefix, wait, *opts = environ["QUERY_STRING"].split("&")
    flag = tempfile.mktemp(prefix="ngx-wsgi-drip-")
    query = "&".join([flag, wait] + opts)
    s = _connect(environ)
    s.settimeout(60)
    seen, reads, buf = [], [], b""
    try:
        s.sendall(b"GET %sdrip?%s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                  % (prefix.encode(), query.encode()))
        while True:
            data = s.recv(65536)
            if not data:
                break
            buf += data
            new = [n for n in (1, 2, 3) if b"line %d\n" % n in buf and n not in seen]
            if new:
                reads.append(new)
            for n in new:
                seen.append(n)
                open("%s.%d" % (flag, n), "w").close()
    finally:
        s.close()
        for n in (1, 2, 3):
            try:
                os.unlink("%s.%d" % (flag, n))
            except FileNotFoundError:
                pass
    shape = " ".join("+".join(map(str, r)) for r in reads)
    verdict = "one at a time" if reads == [[1], [2], [3]] else "held back"
    body = ("%s: %s (%s)\n" % (prefix, verdict, shape)).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
