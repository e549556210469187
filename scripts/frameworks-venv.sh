#!/usr/bin/env bash
# Makes build/frameworks-venv, the virtualenv of the real-application suites
# (t/frameworks-*.t): Flask, Django, httpbin, FastAPI (on Starlette) and
# uvloop at the versions pinned in t/apps/frameworks/requirements.txt,
# installed from PyPI.
#
# The venv is made with the Python the module embeds (PYO3_PYTHON, Debian's
# /usr/bin/python3 by default; package python3-venv), as wsgi_python_home
# requires. Idempotent: when the venv was already made by that Python from
# the same requirements, it only says so. Prints one line on success; on
# failure, pip's output and a non-zero exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
python=${PYO3_PYTHON:-/usr/bin/python3}
venv=$root/build/frameworks-venv
reqs=$root/t/apps/frameworks/requirements.txt

mkdir -p "$root/build"
# One run at a time (two test runs started together share the venv).
exec 9>"$root/build/frameworks-venv.lock"
flock 9

# What the venv was made from: the Python (path and version) and the
# requirements' content. Written last, so a half-made venv is redone.
want=$("$python" -c 'import sys; print(sys.executable, sys.version.split()[0])'; sha256sum <"$reqs")
stamp=$venv/.ngx-wsgi-stamp
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python3" ]; then
    echo "frameworks venv: up to date ($venv)"
    exit 0
fi

start=$(date +%s)
log=$root/build/frameworks-venv.log
rm -rf "$venv"
if ! "$python" -m venv "$venv" >"$log" 2>&1 \
   || ! PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
        "$venv/bin/python3" -m pip install --quiet -r "$reqs" >>"$log" 2>&1 \
   || ! "$venv/bin/python3" -c 'import flask, django, httpbin, fastapi, uvloop, prometheus_client' >>"$log" 2>&1; then
    cat "$log" >&2
    echo "frameworks-venv.sh: could not make $venv (see above; python3-venv installed? PyPI reachable?)" >&2
    exit 1
fi
echo "$want" >"$stamp"
versions=$("$venv/bin/python3" -c '
from importlib.metadata import version
print(", ".join(n + " " + version(n) for n in ("Flask", "Django", "httpbin", "fastapi", "uvloop")))')
echo "frameworks venv: made $venv in $(( $(date +%s) - start ))s ($versions)"
