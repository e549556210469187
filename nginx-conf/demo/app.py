"""The demo application served by scripts/demo.sh: a small page that shows
what the app sees, a form that posts back, and a streamed response."""

import html
import os
import sys
import threading
import time
from urllib.parse import parse_qs

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>ngx-wsgi demo</title>
<h1>Hello from Python inside nginx</h1>
<p>Python {version} in nginx worker pid {pid}, thread {thread}.</p>
<form method="post" action="{script}/echo"><input name="text" value="{text}"> <button>Post</button></form>
<p><a href="{script}/stream">A streamed response</a></p>
<h2>environ</h2>
<table>{rows}</table>
"""


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    script = environ.get("SCRIPT_NAME", "")
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return stream()
    text = ""
    if path == "/echo" and environ["REQUEST_METHOD"] == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = parse_qs(environ["wsgi.input"].read(length).decode("utf-8", "replace"))
        text = form.get("text", [""])[0]
    rows = "".join(
        "<tr><td>{}</td><td>{}</td></tr>".format(html.escape(k), html.escape(str(v)))
        for k, v in sorted(environ.items())
    )
    body = PAGE.format(
        version=sys.version.split()[0],
        pid=os.getpid(),
        thread=threading.current_thread().name,
        script=html.escape(script),
        text=html.escape(text),
        rows=rows,
    ).encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]


def stream():
    for i in range(1, 6):
        yield ("line %d of 5, sent at %.3f\n" % (i, time.time())).encode()
        time.sleep(0.2)
