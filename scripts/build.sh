#!/usr/bin/env bash
# Builds ngx-wsgi and leaves the results at fixed paths.
#
#   scripts/build.sh          nginx 1.28 from the nginx-src crate, with the module:
#                               build/sbin/nginx
#                               build/modules/ngx_http_wsgi_module.so
#   scripts/build.sh --stock  the module for Debian's own nginx 1.22 (packages
#                             nginx and nginx-dev), loadable into /usr/sbin/nginx:
#                               build/stock/ngx_http_wsgi_module.so
#   scripts/build.sh --configure-route
#                             the same, but built by nginx's own build system
#                             (./configure --add-dynamic-module=. and make
#                             modules; see config and config.make):
#                               build/configure-route/ngx_http_wsgi_module.so
#
# Python: Debian's /usr/bin/python3 unless PYO3_PYTHON names another
# interpreter (the module embeds the libpython of that interpreter).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYO3_PYTHON="${PYO3_PYTHON:-/usr/bin/python3}"

# Copy, then rename into place: a running nginx keeps its binary and its
# mapped module, where copying over them would fail or corrupt them.
install_file() {
    cp "$1" "$2.new.$$"
    mv -f "$2.new.$$" "$2"
}

if [ "${1:-}" = --stock ]; then
    if [ ! -f /usr/share/nginx/src/conf_flags ]; then
        echo "build.sh --stock: Debian's nginx-dev is not installed (scripts/deps.sh)" >&2
        exit 1
    fi
    # A module loads only into the nginx it was configured like: take
    # Debian's sources and configure flags, and only run ./configure (the
    # headers and ngx_auto_config.h are all the bindings need).
    src=$PWD/build/stock/nginx-src
    if [ ! -f "$src/objs/ngx_auto_config.h" ] || [ /usr/share/nginx/src/conf_flags -nt "$src/objs/ngx_auto_config.h" ]; then
        rm -rf "$src"
        mkdir -p build/stock
        cp -a /usr/share/nginx/src "$src"
        (
            cd "$src"
            . ./conf_flags
            ./configure "${NGX_CONF_FLAGS[@]}" --with-cc-opt=-fPIC --with-ld-opt=-fPIC > configure.log
        )
    fi
    NGINX_SOURCE_DIR=$src NGINX_BUILD_DIR=$src/objs \
        cargo build --release --no-default-features --features export-modules --target-dir target/stock
    install_file target/stock/release/libngx_http_wsgi_module.so build/stock/ngx_http_wsgi_module.so
    echo "built build/stock/ngx_http_wsgi_module.so (for /usr/sbin/nginx $(/usr/sbin/nginx -v 2>&1 | sed 's|.*/||'))"
    exit 0
fi

if [ "${1:-}" = --configure-route ]; then
    if [ ! -f /usr/share/nginx/src/conf_flags ]; then
        echo "build.sh --configure-route: Debian's nginx-dev is not installed (scripts/deps.sh)" >&2
        exit 1
    fi
    # The route nginx.org documents for third-party modules: nginx's
    # configure reads ./config, its make runs cargo (config.make) and links
    # the module around the ngx_modules table it generates. Debian's full
    # sources and configure flags, so that the module loads into
    # /usr/sbin/nginx. Copied and configured once; reconfigured in place
    # (keeping cargo's target dir in objs) when config or config.make change
    repo=$PWD
    src=$repo/build/configure-route/nginx-src
    if [ ! -f "$src/objs/Makefile" ] || [ /usr/share/nginx/src/conf_flags -nt "$src/objs/Makefile" ]; then
        rm -rf "$src"
        mkdir -p build/configure-route
        cp -a /usr/share/nginx/src "$src"
    fi
    # (and when PYO3_PYTHON changes: configure freezes it into objs/Makefile)
    if [ ! -f "$src/objs/Makefile" ] || [ config -nt "$src/objs/Makefile" ] || [ config.make -nt "$src/objs/Makefile" ] \
        || ! grep -qF "PYO3_PYTHON=\"$PYO3_PYTHON\"" "$src/objs/Makefile"; then
        (
            cd "$src"
            . ./conf_flags
            ./configure "${NGX_CONF_FLAGS[@]}" --with-cc-opt=-fPIC --with-ld-opt=-fPIC \
                --add-dynamic-module="$repo" > configure.log \
                || { tail -n 20 configure.log >&2; exit 1; }
        )
    fi
    # objs/Makefile directly: Debian's copy of auto/install does not write
    # the top-level Makefile that would forward to it.
    make -C "$src" -f objs/Makefile modules
    cp "$src/objs/ngx_http_wsgi_module.so" build/configure-route/ngx_http_wsgi_module.so
    echo "built build/configure-route/ngx_http_wsgi_module.so (for /usr/sbin/nginx $(/usr/sbin/nginx -v 2>&1 | sed 's|.*/||'))"
    exit 0
fi

cargo build --release
nginx=$(ls -t target/release/build/nginx-sys-*/out/objs/nginx | head -n 1)
mkdir -p build/sbin build/modules
install_file "$nginx" build/sbin/nginx
install_file target/release/libngx_http_wsgi_module.so build/modules/ngx_http_wsgi_module.so
echo "built build/sbin/nginx ($(build/sbin/nginx -v 2>&1 | sed 's|.*/||')) and build/modules/ngx_http_wsgi_module.so"
