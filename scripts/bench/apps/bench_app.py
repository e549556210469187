"""The benchmark's WSGI application, the same for every server.

One callable, dispatched on PATH_INFO, so that wsgi_app, uWSGI (behind
uwsgi_pass and uwsgi_upstream), Granian and gunicorn all run identical code:

  /hello    13 bytes, with Content-Length
  /stream   1 MiB from a generator, in 64 KiB chunks, with Content-Length
  /file     the same 1 MiB from a file through wsgi.file_wrapper
            (X-Bench-File-Wrapper: yes; "no" when the server has none and
            the app falls back to reading the file in 64 KiB blocks)
  /sleep    time.sleep(0.01), then the hello body
  /post     reads the whole request body, answers its length
"""
import os
import time

HELLO = b"Hello, world!"
CHUNK = b"x" * 65536
STREAM_CHUNKS = 16  # 16 x 64 KiB = 1 MiB
# build/bench/www/1m.bin of this checkout (bench.py writes it), or BENCH_FILE.
FILE = os.environ.get("BENCH_FILE") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "build", "bench", "www", "1m.bin")


def _plain(start_response, body):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def hello(environ, start_response):
    return _plain(start_response, HELLO)


def stream(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(CHUNK) * STREAM_CHUNKS))])

    def body():
        for _ in range(STREAM_CHUNKS):
            yield CHUNK
    return body()


def _blocks(f, size):
    try:
        while True:
            block = f.read(size)
            if not block:
                return
            yield block
    finally:
        f.close()


def file(environ, start_response):
    f = open(FILE, "rb")
    size = os.fstat(f.fileno()).st_size
    wrapper = environ.get("wsgi.file_wrapper")
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(size)),
                              ("X-Bench-File-Wrapper", "yes" if wrapper else "no")])
    if wrapper:
        return wrapper(f, 65536)
    return _blocks(f, 65536)


def sleep(environ, start_response):
    time.sleep(0.01)
    return _plain(start_response, HELLO)


def post(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    seen = 0
    while seen < length:
        block = stream.read(min(65536, length - seen))
        if not block:
            break
        seen += len(block)
    return _plain(start_response, str(seen).encode())


ROUTES = {"/hello": hello, "/stream": stream, "/file": file, "/sleep": sleep, "/post": post}


def application(environ, start_response):
    route = ROUTES.get(environ.get("PATH_INFO", ""))
    if route is None:
        return_body = b"not found\n"
        start_response("404 Not Found", [("Content-Type", "text/plain"),
                                         ("Content-Length", str(len(return_body)))])
        return [return_body]
    return route(environ, start_response)
