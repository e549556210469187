#!/usr/bin/env bash
# Builds the Debian package of the module for Debian 12's own nginx:
#
#   scripts/package.sh [--version VERSION]
#     -> build/deb/libnginx-mod-http-wsgi_VERSION_ARCH.deb
#
# laid out as Debian's libnginx-mod-* packages are (packaging/deb/): the
# module in /usr/lib/nginx/modules/, its load_module line in
# /usr/share/nginx/modules-available/mod-http-wsgi.conf, enabled by a link
# in /etc/nginx/modules-enabled/ that the maintainer scripts manage.
#
# The module is the --stock build (scripts/build.sh --stock), so it loads
# into the installed /usr/sbin/nginx only: the package depends on the nginx
# ABI that nginx provides (nginx-abi-1.22.1-7) and on the libraries the
# module links, libpython3.X among them, as dpkg-shlibdeps finds them.
# VERSION defaults to the crate's version (Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
while [ $# -gt 0 ]; do
    case "$1" in
        --version) version=${2:?--version needs a version}; shift ;;
        *) echo "usage: $0 [--version VERSION]" >&2; exit 2 ;;
    esac
    shift
done

package=libnginx-mod-http-wsgi
arch=$(dpkg --print-architecture)

# The module is built from nginx-dev's sources: they must be those of the
# installed nginx, whose ABI the package then requires.
nginx_version=$(dpkg-query -W -f='${Version}' nginx 2>/dev/null || true)
dev_version=$(dpkg-query -W -f='${Version}' nginx-dev 2>/dev/null || true)
if [ -z "$nginx_version" ] || [ "$nginx_version" != "$dev_version" ]; then
    echo "package.sh: needs Debian's nginx and nginx-dev, of one version (nginx: ${nginx_version:-none}, nginx-dev: ${dev_version:-none}; scripts/deps.sh)" >&2
    exit 1
fi
abi=$(dpkg-query -W -f='${Provides}' nginx | tr ',' '\n' | sed -n 's/^ *\(nginx-abi-[^ ]*\).*/\1/p')
if [ -z "$abi" ]; then
    echo "package.sh: nginx $nginx_version provides no nginx-abi-* package" >&2
    exit 1
fi

scripts/build.sh --stock

# The package's tree, as dpkg-shlibdeps expects it: debian/control beside
# debian/PACKAGE/.
work=$root/build/deb/work
tree=$work/debian/$package
rm -rf "$work"
mkdir -p "$tree/DEBIAN" "$tree/usr/lib/nginx/modules" \
    "$tree/usr/share/nginx/modules-available" "$tree/usr/share/doc/$package/examples"
# Stripped as dh_strip strips shared libraries (the build keeps debug info).
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
    -o "$tree/usr/lib/nginx/modules/ngx_http_wsgi_module.so" build/stock/ngx_http_wsgi_module.so
chmod 0644 "$tree/usr/lib/nginx/modules/ngx_http_wsgi_module.so"
install -m 0644 packaging/deb/mod-http-wsgi.conf "$tree/usr/share/nginx/modules-available/"
install -m 0644 packaging/deb/copyright "$tree/usr/share/doc/$package/"
install -m 0644 nginx-conf/django.conf nginx-conf/flask.conf nginx-conf/fallback.conf \
    "$tree/usr/share/doc/$package/examples/"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$tree/DEBIAN/"

printf 'Source: ngx-wsgi\n\nPackage: %s\nArchitecture: any\n' "$package" > "$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O "-e$tree/usr/lib/nginx/modules/ngx_http_wsgi_module.so")
shlibs=${shlibs#shlibs:Depends=}
python=$("${PYO3_PYTHON:-/usr/bin/python3}" -c 'import sys; print("Python %d.%d" % sys.version_info[:2])')

size=$(du -sk --exclude=DEBIAN "$tree" | cut -f 1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@SIZE@|$size|" \
    -e "s|@DEPENDS@|$abi, $shlibs|" -e "s|@PYTHON@|$python|" \
    packaging/deb/control > "$tree/DEBIAN/control"
(cd "$tree" && find usr -type f -print0 | sort -z | xargs -0 md5sum) > "$tree/DEBIAN/md5sums"

rm -f "build/deb/${package}_"*.deb
deb=build/deb/${package}_${version}_$arch.deb
dpkg-deb --root-owner-group --build "$tree" "$deb" >/dev/null
echo "built $deb (for nginx $nginx_version: $abi, $shlibs)"
