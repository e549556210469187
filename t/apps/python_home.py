"""Apps of t/python-home.t: which Python runs, and a worker that meets a
virtualenv of another Python when it starts again."""

import os
import signal
import sys


def version(environ, start_response):
    body = "python=%d.%d prefix=%s\n" % (sys.version_info[0], sys.version_info[1], sys.prefix)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]


def swap_and_die(environ, start_response):
    """Points the symlink that wsgi_python_home names (SWAP_LINK, a
    wsgi_param) at another virtualenv (SWAP_TO), as a deploy that remakes
    the venv would, then kills its own worker: the master starts a new one,
    which starts Python from the other venv."""
    link = environ["SWAP_LINK"]
    os.symlink(environ["SWAP_TO"], link + ".new")
    os.replace(link + ".new", link)
    os.kill(os.getpid(), signal.SIGKILL)
