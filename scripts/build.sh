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
#   --out DIR                 leave the results in DIR instead of build/
#                             (build/stock, build/configure-route)
#   --nginx-from TARGET_DIR   (default build) build the module alone, for the
#                             nginx that a default build with CARGO_TARGET_DIR
#                             TARGET_DIR built, instead of building nginx too
#                             (about a minute): DIR/sbin/nginx is that nginx
#
# Python: Debian's /usr/bin/python3 unless PYO3_PYTHON names another
# interpreter (the module embeds the libpython of that interpreter).
# cargo's target directory: CARGO_TARGET_DIR, or target/; the --stock and
# --configure-route builds use its subdirectories stock/ and
# configure-route/ (their features and nginx differ: sharing one directory
# would rebuild the crate at every switch).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYO3_PYTHON="${PYO3_PYTHON:-/usr/bin/python3}"

mode=vendored
out=
nginx_from=
while [ $# -gt 0 ]; do
    case "$1" in
        --stock) mode=stock ;;
        --configure-route) mode=configure-route ;;
        --out) out=${2:?--out needs a directory}; shift ;;
        --nginx-from) nginx_from=${2:?--nginx-from needs a cargo target directory}; shift ;;
        *) echo "usage: $0 [--stock | --configure-route] [--out DIR] [--nginx-from TARGET_DIR]" >&2; exit 2 ;;
    esac
    shift
done
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$PWD/$target ;; esac

# Copy, then rename into place: a running nginx keeps its binary and its
# mapped module, where copying over them would fail or corrupt them.
install_file() {
    cp "$1" "$2.new.$$"
    mv -f "$2.new.$$" "$2"
}

# build_module_for SRC OBJS TARGET_DIR: the module alone, its bindings made
# from an nginx source tree and its configured build directory.
build_module_for() {
    NGINX_SOURCE_DIR=$1 NGINX_BUILD_DIR=$2 \
        cargo build --release --no-default-features --features export-modules --target-dir "$3"
}

if [ $mode = stock ]; then
    out=${out:-build/stock}
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
    build_module_for "$src" "$src/objs" "$target/stock"
    mkdir -p "$out"
    install_file "$target/stock/release/libngx_http_wsgi_module.so" "$out/ngx_http_wsgi_module.so"
    echo "built $out/ngx_http_wsgi_module.so (for /usr/sbin/nginx $(/usr/sbin/nginx -v 2>&1 | sed 's|.*/||'))"
    exit 0
fi

if [ $mode = configure-route ]; then
    out=${out:-build/configure-route}
    if [ ! -f /usr/share/nginx/src/conf_flags ]; then
        echo "build.sh --configure-route: Debian's nginx-dev is not installed (scripts/deps.sh)" >&2
        exit 1
    fi
    # The route nginx.org documents for third-party modules: nginx's
    # configure reads ./config, its make runs cargo (config.make) and links
    # the module around the ngx_modules table it generates. Debian's full
    # sources and configure flags, so that the module loads into
    # /usr/sbin/nginx. Copied and configured once; reconfigured in place
    # (keeping cargo's target dir) when config or config.make change
    repo=$PWD
    src=$repo/build/configure-route/nginx-src
    if [ ! -f "$src/objs/Makefile" ] || [ /usr/share/nginx/src/conf_flags -nt "$src/objs/Makefile" ]; then
        rm -rf "$src"
        mkdir -p build/configure-route
        cp -a /usr/share/nginx/src "$src"
    fi
    # cargo's target directory: config puts it in objs, or in
    # CARGO_TARGET_DIR when that is set at configure time.
    if [ -n "${CARGO_TARGET_DIR:-}" ]; then
        cargo_dir=$target/configure-route
    else
        cargo_dir=objs/ngx_http_wsgi_module
    fi
    # (and when PYO3_PYTHON or the target directory change: configure
    # freezes them into objs/Makefile)
    if [ ! -f "$src/objs/Makefile" ] || [ config -nt "$src/objs/Makefile" ] || [ config.make -nt "$src/objs/Makefile" ] \
        || ! grep -qF "PYO3_PYTHON=\"$PYO3_PYTHON\"" "$src/objs/Makefile" \
        || ! grep -qF -- "--target-dir \"$cargo_dir\"" "$src/objs/Makefile"; then
        (
            cd "$src"
            . ./conf_flags
            if [ -n "${CARGO_TARGET_DIR:-}" ]; then export CARGO_TARGET_DIR=$cargo_dir; fi
            ./configure "${NGX_CONF_FLAGS[@]}" --with-cc-opt=-fPIC --with-ld-opt=-fPIC \
                --add-dynamic-module="$repo" > configure.log \
                || { tail -n 20 configure.log >&2; exit 1; }
        )
    fi
    # objs/Makefile directly: Debian's copy of auto/install does not write
    # the top-level Makefile that would forward to it.
    make -C "$src" -f objs/Makefile modules
    mkdir -p "$out"
    install_file "$src/objs/ngx_http_wsgi_module.so" "$out/ngx_http_wsgi_module.so"
    echo "built $out/ngx_http_wsgi_module.so (for /usr/sbin/nginx $(/usr/sbin/nginx -v 2>&1 | sed 's|.*/||'))"
    exit 0
fi

out=${out:-build}
if [ -n "$nginx_from" ]; then
    # The vendored nginx of that build, and its sources: nginx-src names
    # them in the first field of objs/last-build-info.
    case "$nginx_from" in /*) ;; *) nginx_from=$PWD/$nginx_from ;; esac
    objs=$(ls -td "$nginx_from"/release/build/nginx-sys-*/out/objs 2>/dev/null | head -n 1)
    src=$(cut -d '"' -f 2 "$objs/last-build-info" 2>/dev/null || true)
    if [ ! -x "$objs/nginx" ] || [ ! -f "$src/src/core/nginx.h" ]; then
        echo "build.sh --nginx-from: no nginx built in $nginx_from (run scripts/build.sh with CARGO_TARGET_DIR=$nginx_from first)" >&2
        exit 1
    fi
    build_module_for "$src" "$objs" "$target"
    mkdir -p "$out/sbin" "$out/modules"
    install_file "$objs/nginx" "$out/sbin/nginx"
    install_file "$target/release/libngx_http_wsgi_module.so" "$out/modules/ngx_http_wsgi_module.so"
    echo "built $out/modules/ngx_http_wsgi_module.so (for $out/sbin/nginx, from $nginx_from)"
    exit 0
fi

cargo build --release
# nginx-sys's build script configures and builds the vendored nginx in its
# OUT_DIR, and asks cargo to run it again when objs/Makefile or
# objs/ngx_auto_config.h change. It writes both itself, after the start
# time cargo records for the run, so cargo would take them for changed and
# rebuild nginx-sys, ngx and the module on the next build
# (rust-lang/cargo#11126). Date them back to the run that wrote them.
for stamp in "$target"/release/build/nginx-sys-*/output; do
    for f in "${stamp%/output}"/out/objs/{Makefile,ngx_auto_config.h}; do
        if [ "$f" -nt "$stamp" ]; then touch -r "$stamp" "$f"; fi
    done
done
nginx=$(ls -t "$target"/release/build/nginx-sys-*/out/objs/nginx | head -n 1)
mkdir -p "$out/sbin" "$out/modules"
install_file "$nginx" "$out/sbin/nginx"
install_file "$target/release/libngx_http_wsgi_module.so" "$out/modules/ngx_http_wsgi_module.so"
echo "built $out/sbin/nginx ($("$out/sbin/nginx" -v 2>&1 | sed 's|.*/||')) and $out/modules/ngx_http_wsgi_module.so"
