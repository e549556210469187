import sys


def application(environ, start_response):
    import venv_marker  # only importable from the test virtualenv
    body = "prefix=%s base_prefix=%s marker=%s\n" % (sys.prefix, sys.base_prefix, venv_marker.VALUE)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
