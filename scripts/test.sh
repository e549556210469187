#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test:
#   cargo's unit tests of the pure layers, then the Test::Nginx suites in t/
#   against the vendored nginx 1.28, then the core suites against Debian's
#   stock nginx 1.22 with the module built for it, by cargo (--stock) and by
#   nginx's own ./configure --add-dynamic-module (--configure-route).
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

# A virtualenv with a package of its own, for wsgi_python_home.
venv=$root/build/test-venv
if [ ! -x "$venv/bin/python3" ]; then
    "$PYO3_PYTHON" -m venv --without-pip "$venv"
fi
site=$("$venv/bin/python3" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo 'VALUE = "from the test venv"' > "$site/venv_marker.py"

# Flask, Django and httpbin from PyPI, pinned, for the real-application suites.
scripts/frameworks-venv.sh
export TEST_NGINX_FRAMEWORKS_VENV=$root/build/frameworks-venv

# The external containers of the uwsgi_upstream suites: real uWSGI servers
# and misbehaving fakes, stopped again whatever happens.
trap 'scripts/test-upstreams.sh stop' EXIT
eval "$(scripts/test-upstreams.sh start)"

export TEST_NGINX_APPS=$root/t/apps
export TEST_NGINX_VENV=$venv
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

echo "== prove (Debian's /usr/sbin/nginx $(/usr/sbin/nginx -v 2>&1 | sed 's|.*/||'), stock build)"
TEST_NGINX_BINARY=/usr/sbin/nginx \
TEST_NGINX_LOAD_MODULES=$root/build/stock/ngx_http_wsgi_module.so \
    prove t/wsgi-environ.t t/wsgi-response.t t/wsgi-failures.t t/lifecycle.t t/uwsgi-upstream.t t/uwsgi-fallback.t

echo "== prove (Debian's /usr/sbin/nginx, module built by nginx's ./configure --add-dynamic-module)"
TEST_NGINX_BINARY=/usr/sbin/nginx \
TEST_NGINX_LOAD_MODULES=$root/build/configure-route/ngx_http_wsgi_module.so \
    prove t/wsgi-environ.t t/wsgi-response.t
