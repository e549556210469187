#!/usr/bin/env python3
"""Misbehaving upstreams for the uwsgi_upstream tests, on loopback only.

    fake_upstream.py SECONDS junk:PORT silent:PORT backlog:PORT ...

junk     answers every connection with bytes that are not HTTP, then closes
silent   accepts and never reads nor answers (send and read timeouts)
backlog  listens with a full backlog and never accepts (connect timeout)

Exits by itself after SECONDS, so that nothing outlives a test run.
"""
import socket
import sys
import threading
import time


def listener(port, backlog):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(backlog)
    return s


def junk(port):
    s = listener(port, 16)
    while True:
        c, _ = s.accept()
        try:
            c.recv(65536)
            c.sendall(b"\x00\x07\xffnot http at all\r\n\r\n")
        finally:
            c.close()


held = []


def silent(port):
    s = listener(port, 16)
    while True:
        c, _ = s.accept()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        held.append(c)


def backlog(port):
    s = listener(port, 0)
    # Fill the accept queue ourselves: further SYNs are dropped, and a
    # client's connect() waits until its own timeout.
    for _ in range(4):
        f = socket.socket()
        f.setblocking(False)
        try:
            f.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        held.append(f)
    held.append(s)
    while True:
        time.sleep(3600)


def main():
    seconds = float(sys.argv[1])
    for spec in sys.argv[2:]:
        kind, port = spec.split(":")
        target = {"junk": junk, "silent": silent, "backlog": backlog}[kind]
        threading.Thread(target=target, args=(int(port),), daemon=True).start()
    time.sleep(seconds)


if __name__ == "__main__":
    main()
