"""The client side of t/wsgi-status.t: makes requests, scrapes
wsgi_status before and after, parses the exposition with the real
Prometheus parser (prometheus_client, from the frameworks venv), and
reports how the figures moved."""

import json
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def _get(environ, path):
    url = "http://127.0.0.1:%s%s" % (environ["SERVER_PORT"], path)
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def _samples(environ):
    """Every sample of the exposition: {(name, sorted labels): value}."""
    _, _, text = _get(environ, "/wsgi_status")
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def check(environ, start_response):
    """GET /check: 3 x /hello, 2 x /raises; the moves of the figures."""
    before = _samples(environ)
    for _ in range(3):
        _get(environ, "/hello")
    for _ in range(2):
        _get(environ, "/raises")
    after = _samples(environ)

    def moved(name, **labels):
        return _value(after, name, **labels) - _value(before, name, **labels)

    hello, raises = {"app": "basic:hello"}, {"app": "basic:raises"}
    lines = [
        "hello 2xx: +%d" % moved("ngx_wsgi_requests_total", **{"class": "2xx"}, **hello),
        "raises 5xx: +%d" % moved("ngx_wsgi_requests_total", **{"class": "5xx"}, **raises),
        "raises exceptions: +%d" % moved("ngx_wsgi_app_exceptions_total", **raises),
        "hello exceptions: +%d" % moved("ngx_wsgi_app_exceptions_total", **hello),
        "hello time in the app, count: +%d" % moved("ngx_wsgi_app_seconds_count", **hello),
        "hello time in the app, le=+Inf: +%d" % moved("ngx_wsgi_app_seconds_bucket", le="+Inf", **hello),
        "hello queue wait, count: +%d" % moved("ngx_wsgi_queue_wait_seconds_count", **hello),
        "workers: %d" % _value(after, "ngx_wsgi_workers"),
    ]
    status, ctype, body = _get(environ, "/wsgi_status?format=json")
    doc = json.loads(body)
    lines.append("json: %s, hello 2xx as in the text: %s" % (
        ctype,
        "yes" if doc["apps"]["basic:hello"]["requests"]["2xx"]
        == _value(after, "ngx_wsgi_requests_total", **{"class": "2xx"}, **hello) else "NO"))
    _, ctype, _ = _get(environ, "/wsgi_status")
    lines.append("text: %s" % ctype)
    body = ("\n".join(lines) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
