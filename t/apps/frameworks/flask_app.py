"""A small Flask application for t/frameworks-flask.t: JSON, a urlencoded
form, a multipart upload, streamed responses and url_for() under a prefix.

Served with `wsgi_app flask_app:app;` from the venv of
scripts/frameworks-venv.sh.
"""

import hashlib
import time

from flask import (
    Flask,
    Response,
    abort,
    jsonify,
    redirect,
    request,
    stream_with_context,
    url_for,
)

app = Flask(__name__)
app.json.sort_keys = True

ITEMS = {1: "spam", 2: "eggs", 3: "ham"}


@app.get("/api/items/<int:item_id>")
def item(item_id):
    if item_id not in ITEMS:
        abort(404)
    return jsonify(
        id=item_id,
        name=ITEMS[item_id],
        q=request.args.get("q"),
        script_root=request.script_root,
        path=request.path,
        url=url_for("item", item_id=item_id),
        external=url_for("item", item_id=item_id, _external=True),
    )


@app.post("/api/items")
def create_item():
    data = request.get_json()
    return jsonify(received=data, count=len(data.get("tags", []))), 201


@app.get("/old")
def old():
    # Werkzeug sends this Location as is: the prefix comes from url_for().
    return redirect(url_for("item", item_id=2))


@app.post("/form")
def form():
    f = request.form
    lines = ["%s=%s" % (k, "|".join(f.getlist(k))) for k in sorted(f)]
    body = "content_type=%s\n%s\n" % (request.mimetype, "\n".join(lines))
    return Response(body, mimetype="text/plain")


@app.post("/upload")
def upload():
    up = request.files["file"]
    data = up.read()
    body = "field=%s filename=%s type=%s size=%d sha256=%s note=%s\n" % (
        up.name,
        up.filename,
        up.mimetype,
        len(data),
        hashlib.sha256(data).hexdigest(),
        request.form.get("note"),
    )
    return Response(body, mimetype="text/plain")


@app.get("/stream")
def stream():
    n = int(request.args.get("n", "3"))

    @stream_with_context
    def generate():
        # request is only usable here thanks to stream_with_context: the
        # generator runs after the view has returned.
        yield "start %s%s\n" % (request.script_root, request.path)
        for i in range(n):
            time.sleep(0.01)
            yield "line %d of %d (%s)\n" % (i + 1, n, request.args.get("tag", "-"))
        yield "end\n"

    return Response(generate(), mimetype="text/plain")


@app.get("/stream-big")
def stream_big():
    """About 1 MiB in 64 KiB chunks, more than the 256 KiB the server queues
    ahead of the client: the generator has to wait for the socket."""
    chunk = int(request.args.get("chunk", "65536"))
    count = int(request.args.get("count", "16"))

    def generate():
        for i in range(count):
            yield bytes([i % 256]) * chunk

    return Response(generate(), mimetype="application/octet-stream")


@app.errorhandler(404)
def not_found(e):
    return jsonify(error="not found", path=request.path), 404
