"""Drives djproj (t/frameworks-django.t) through nginx, as a browser would:
a WSGI app, served by the same nginx, that makes HTTP requests to it with
urllib and a cookie jar, and reports what it saw, one line a step.

The flows need a value from one response in the next request (the CSRF
token of a form, the session cookie of a login), which Test::Nginx's
static requests cannot carry over. Each request here goes through nginx
and ngx-wsgi like any other: the driver only runs on a second Python
thread of the same worker.
"""

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect
        )

    def request(self, path, form=None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.base + path, data=data)
        try:
            with self.opener.open(req, timeout=20) as r:
                return r.status, r.headers, r.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode("utf-8", "replace")

    def cookie(self, name):
        for c in self.jar:
            if c.name == name:
                return c
        return None


def form_token(html):
    m = re.search(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]+)"', html)
    return m.group(1) if m else None


def _respond(start_response, lines):
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [("\n".join(lines) + "\n").encode("utf-8")]


def notes_flow(environ, start_response):
    """GET the form, POST it with the token from the page and the cookie
    the GET set, follow the redirect; then the two ways to fail the check."""
    base = "http://127.0.0.1:%s" % environ["SERVER_PORT"]
    out = []
    b = Browser(base)

    status, headers, html = b.request("/django/notes/")
    cookie = b.cookie("csrftoken")
    token = form_token(html)
    out.append(
        "GET /django/notes/: %d, csrftoken cookie: %s, token in the form: %s"
        % (status, "yes" if cookie else "no", "yes" if token else "no")
    )

    status, headers, body = b.request(
        "/django/notes/",
        {"csrfmiddlewaretoken": token or "", "title": "through nginx", "body": "größer als"},
    )
    location = headers.get("Location", "-")
    out.append("POST with the token: %d -> %s" % (status, location))
    if status == 302:
        status, headers, body = b.request(location)
        out.append("GET %s: %d %s" % (location, status, body.strip().replace("\n", " | ")))

    status, headers, body = Browser(base).request("/django/notes/", {"title": "no cookie, no token"})
    out.append("POST without cookie or token: %d" % status)

    status, headers, body = b.request(
        "/django/notes/", {"csrfmiddlewaretoken": "x" * 64, "title": "a wrong token"}
    )
    out.append("POST with the cookie and a wrong token: %d" % status)

    status, headers, body = b.request("/django/api/notes/")
    out.append("GET /django/api/notes/: %d %s" % (status, body))
    return _respond(start_response, out)


def admin_flow(environ, start_response):
    """Log in to Django's admin through its login form, then use it."""
    base = "http://127.0.0.1:%s" % environ["SERVER_PORT"]
    out = []
    b = Browser(base)

    status, headers, html = b.request("/django/admin/")
    location = headers.get("Location", "-")
    out.append("GET /django/admin/: %d -> %s" % (status, location))

    status, headers, html = b.request(location)
    token = form_token(html)
    action = re.search(r'<form action="([^"]*)" method="post" id="login-form">', html)
    action = action.group(1).replace("&amp;", "&") if action else None
    out.append(
        "GET the login page: %d, form action: %s, token: %s"
        % (status, action, "yes" if token else "no")
    )

    status, headers, html = b.request(
        action or location,
        {"csrfmiddlewaretoken": token or "", "username": "admin", "password": "wrong", "next": "/django/admin/"},
    )
    wrong = "Please enter the correct username and password" in html
    out.append("POST a wrong password: %d, the form says so: %s" % (status, "yes" if wrong else "no"))

    status, headers, html = b.request(
        action or location,
        {"csrfmiddlewaretoken": token or "", "username": "admin", "password": "ngx-wsgi", "next": "/django/admin/"},
    )
    session = b.cookie("sessionid")
    out.append(
        "POST the right password: %d -> %s, session cookie: %s"
        % (status, headers.get("Location", "-"), "yes" if session else "no")
    )

    status, headers, html = b.request("/django/admin/")
    links = sorted(set(re.findall(r'href="(/django/admin/notes/[^"]*)"', html)))
    out.append(
        "GET /django/admin/: %d, \"Site administration\": %s, notes links: %s"
        % (status, "yes" if "Site administration" in html else "no", " ".join(links))
    )

    status, headers, html = b.request("/django/admin/notes/note/add/")
    token = form_token(html)
    status, headers, html = b.request(
        "/django/admin/notes/note/add/",
        {"csrfmiddlewaretoken": token or "", "title": "from the admin", "body": "", "_save": "Save"},
    )
    out.append("POST a note in the admin: %d -> %s" % (status, headers.get("Location", "-")))

    status, headers, html = b.request("/django/admin/notes/note/")
    out.append(
        "the admin's note list: %d, shows it: %s"
        % (status, "yes" if "from the admin" in html else "no")
    )
    return _respond(start_response, out)
