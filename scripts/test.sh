#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test:
#   cargo's unit tests of the pure layers, then the Test::Nginx suites in t/
#   against the vendored nginx 1.28 and the examples of nginx-conf/
#   (t/examples.sh), then the core suites against Debian's stock nginx 1.22
#   with the module built for it, by cargo (--stock) and by nginx's own
#   ./configure --add-dynamic-module (--configure-route), then the Debian
#   package in the machine's nginx (t/package.sh, as root), and last the
#   module built against each other CPython 3.9-3.13 installed.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PYO3_PYTHON="${PYO3_PYTHON:-/usr/bin/python3}"

scripts/deps.sh
scripts/build.sh
scripts/build.sh --stock
scripts/build.sh --configure-route

echo "== cargo test (pure layers, no nginx)"
# In a target directory of its own: built without the module's features,
# the crate would otherwise replace the one scripts/build.sh built (cargo
# keeps one fingerprint for the cdylib whatever its features), and the next
# scripts/build.sh (or scripts/demo.sh) would build the module again.
cargo test --release --no-default-features --target-dir "${CARGO_TARGET_DIR:-target}/unit"

# make_venv PYTHON DIR: a virtualenv of PYTHON with a package of its own
# (venv_marker), for wsgi_python_home; made again when PYTHON changed.
make_venv() {
    if [ "$(readlink -f "$2/bin/python3")" != "$(readlink -f "$1")" ]; then
        rm -rf "$2"
        "$1" -m venv --without-pip "$2"
    fi
    local site
    site=$("$2/bin/python3" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo 'VALUE = "from the test venv"' > "$site/venv_marker.py"
}
version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }

venv=$root/build/test-venv
make_venv "$PYO3_PYTHON" "$venv"

# The machine's other CPythons (pyenv's, shared builds), by version: the
# module is built and tested against each below, and t/python-home.t needs
# a venv of a Python other than the module's.
pyenv_versions=${PYENV_ROOT:-$HOME/.pyenv}/versions
main_version=$(version_of "$PYO3_PYTHON")
other_pythons=()
for v in 3.9 3.10 3.11 3.12 3.13; do
    [ "$v" != "$main_version" ] || continue
    py=$(ls -d "$pyenv_versions/$v".*/bin/"python$v" 2>/dev/null | sort -V | tail -n 1 || true)
    other_pythons+=("$v:$py")
done
# The other venv: pyenv's 3.12 if present, else the first other Python found.
other_venv=
for vp in "${other_pythons[@]}"; do
    v=${vp%%:*} py=${vp#*:}
    [ -n "$py" ] || continue
    if [ -z "$other_venv" ] || [ "$v" = 3.12 ]; then
        other_venv=$root/build/test-venv-$v
        other_python=$py
    fi
done
if [ -n "$other_venv" ]; then
    make_venv "$other_python" "$other_venv"
fi

# Flask, Django, httpbin, FastAPI and uvloop from PyPI, pinned, for the
# real-application suites.
scripts/frameworks-venv.sh
export TEST_NGINX_FRAMEWORKS_VENV=$root/build/frameworks-venv

# The external containers of the uwsgi_upstream suites: real uWSGI servers
# and misbehaving fakes, stopped again whatever happens.
trap 'scripts/test-upstreams.sh stop' EXIT
eval "$(scripts/test-upstreams.sh start)"

export TEST_NGINX_APPS=$root/t/apps
export TEST_NGINX_VENV=$venv
export TEST_NGINX_PYTHON=$PYO3_PYTHON
export TEST_NGINX_OTHER_VENV=$other_venv
export TEST_NGINX_SERVROOT=$root/t/servroot
export PERL5LIB=$root/t/lib${PERL5LIB:+:$PERL5LIB}

echo "== prove t/ (nginx $(build/sbin/nginx -v 2>&1 | sed 's|.*/||'), vendored)"
TEST_NGINX_BINARY=$root/build/sbin/nginx \
TEST_NGINX_LOAD_MODULES=$root/build/modules/ngx_http_wsgi_module.so \
    prove -r t

echo "== prove t/uwsgi-upstream.t on stock uwsgi_pass, same expectations (side by side)"
TEST_NGINX_UWSGI_FLAVOR=stock \
TEST_NGINX_BINARY=$root/build/sbin/nginx \
TEST_NGINX_LOAD_MODULES=$root/build/modules/ngx_http_wsgi_module.so \
    prove t/uwsgi-upstream.t

echo "== t/examples.sh: nginx-conf/django.conf, flask.conf and fallback.conf, served as they are"
TEST_NGINX_BINARY=$root/build/sbin/nginx \
TEST_NGINX_LOAD_MODULES=$root/build/modules/ngx_http_wsgi_module.so \
    t/examples.sh

echo "== prove (Debian's /usr/sbin/nginx $(/usr/sbin/nginx -v 2>&1 | sed 's|.*/||'), stock build)"
TEST_NGINX_BINARY=/usr/sbin/nginx \
TEST_NGINX_LOAD_MODULES=$root/build/stock/ngx_http_wsgi_module.so \
    prove t/wsgi-environ.t t/wsgi-response.t t/wsgi-failures.t t/lifecycle.t t/uwsgi-upstream.t t/uwsgi-fallback.t \
          t/wsgi-partial.t t/wsgi-parking.t t/wsgi-timeout.t t/wsgi-request-streaming.t t/asgi-http.t t/asgi-websocket.t

echo "== prove (Debian's /usr/sbin/nginx, module built by nginx's ./configure --add-dynamic-module)"
TEST_NGINX_BINARY=/usr/sbin/nginx \
TEST_NGINX_LOAD_MODULES=$root/build/configure-route/ngx_http_wsgi_module.so \
    prove t/wsgi-environ.t t/wsgi-response.t

echo "== the Debian package: scripts/package.sh, then t/package.sh installs it into the machine's nginx"
scripts/package.sh
t/package.sh build/deb/libnginx-mod-http-wsgi_*_"$(dpkg --print-architecture)".deb

# The module against each other CPython of the machine: a build of its own
# (cargo target directory and results apart, so that no build invalidates
# another) for the vendored nginx built above, venvs of its own, and the
# core suites.
tested=("$main_version ($PYO3_PYTHON)")
skipped=()
for vp in "${other_pythons[@]}"; do
    v=${vp%%:*} py=${vp#*:}
    if [ -z "$py" ]; then
        echo "== Python $v: skipped, not installed (no $pyenv_versions/$v.*/bin/python$v)"
        skipped+=("$v")
        continue
    fi
    echo "== Python $v ($py): build, then the core suites on the vendored nginx"
    out=$root/build/python$v
    CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}/python$v PYO3_PYTHON=$py \
        scripts/build.sh --out "$out" --nginx-from "${CARGO_TARGET_DIR:-target}"
    make_venv "$py" "$root/build/test-venv-$v"
    TEST_NGINX_BINARY=$out/sbin/nginx \
    TEST_NGINX_LOAD_MODULES=$out/modules/ngx_http_wsgi_module.so \
    TEST_NGINX_PYTHON=$py TEST_NGINX_VENV=$root/build/test-venv-$v TEST_NGINX_OTHER_VENV=$venv \
        prove t/wsgi-environ.t t/wsgi-response.t t/wsgi-failures.t t/lifecycle.t t/python-home.t
    tested+=("$v ($py)")
done
echo "== Python versions tested: ${tested[*]}; skipped (not installed): ${skipped[*]:-none}"
