#!/usr/bin/env bash
# The Debian package (scripts/package.sh) on this machine's own Debian
# nginx, as a user installs it, and removes it again:
#
#   t/package.sh build/deb/libnginx-mod-http-wsgi_VERSION_ARCH.deb
#
# As root: installs it with apt-get, checks its dependencies and files and
# that nginx -t passes with the module enabled, serves a WSGI app from a
# site through /usr/sbin/nginx and /etc/nginx/nginx.conf (workers as
# www-data), removes it and checks that nginx still starts, then checks
# that the module's link follows Debian's rules on reinstall, upgrade and
# purge. It leaves the machine's nginx as it found it, whatever happens:
# stopped or running, and the same files in /etc/nginx (checked at the
# end). A site on 127.0.0.1, port TEST_NGINX_PORT + 3; nginx.conf's own
# sites listen where they always do (Debian's default: port 80).
set -euo pipefail
cd "$(dirname "$0")/.."
. t/lib/tap.sh

deb=$(readlink -f "${1:?usage: $0 PACKAGE.deb}")
package=libnginx-mod-http-wsgi
link=/etc/nginx/modules-enabled/50-mod-http-wsgi.conf
available=/usr/share/nginx/modules-available/mod-http-wsgi.conf
module=/usr/lib/nginx/modules/ngx_http_wsgi_module.so
pidfile=/run/nginx.pid
site=/etc/nginx/sites-available/ngx-wsgi-package-test
port=$((${TEST_NGINX_PORT:-1984} + 3))

if [ "$(id -u)" != 0 ]; then
    echo "1..0 # SKIP needs root (installs a package into the system nginx)"
    exit 0
fi
# installed, config-files, ...; not-installed when dpkg knows nothing of it
package_state() {
    local s
    s=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
    echo "${s:-not-installed}"
}
state=$(package_state)
if [ "$state" != not-installed ]; then
    echo "1..0 # SKIP $package is $state on this machine: the test would replace it"
    exit 0
fi

# The machine's nginx as found: running or not (and under systemd or not),
# and what /etc/nginx holds (paths, types, link targets).
etc_listing() { find /etc/nginx -printf '%p %y %l\n' | sort; }
etc_before=$(etc_listing)
was_running=false
if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    was_running=true
fi
systemd=false
if [ -d /run/systemd/system ] && systemctl is-active --quiet nginx 2>/dev/null; then
    systemd=true
fi

tmp=$(mktemp -d /tmp/ngx-wsgi-package.XXXXXX)
chmod 755 "$tmp"
apt_log=$tmp/apt.log

apt_get() {
    DEBIAN_FRONTEND=noninteractive apt-get -y -q "$@" >>"$apt_log" 2>&1 || {
        sed 's/^/# apt: /' "$apt_log" | tail -n 20
        return 1
    }
}

# Back to the machine's state: our nginx stopped, our site and the package
# gone, the machine's nginx started again if it ran. Also on failure.
restore() {
    # (the machine's own nginx, if it ran, was stopped before any of ours)
    nginx_stop "$pidfile" || true
    rm -f "$site" /etc/nginx/sites-enabled/ngx-wsgi-package-test
    if [ "$(package_state)" != not-installed ]; then
        DEBIAN_FRONTEND=noninteractive apt-get -y -q purge "$package" >>"$apt_log" 2>&1 || true
    fi
    if [ "$was_running" = true ] && ! { [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }; then
        if [ "$systemd" = true ]; then systemctl start nginx; else /usr/sbin/nginx; fi
    fi
    rm -rf "$tmp"
}
trap restore EXIT
trap "exit 1" INT TERM HUP

if [ "$was_running" = true ]; then
    echo "# the machine's nginx runs: stopped for the test, started again after it"
    if [ "$systemd" = true ]; then systemctl stop nginx; else nginx_stop "$pidfile"; fi
fi

nginx_t() { /usr/sbin/nginx -t -q 2>&1; }

echo "# install: apt-get install $deb"
check "apt-get install installs the package" apt_get install "$deb"
is "$(package_state)" installed "the package is installed"

# What the package must depend on, found independently: the ABI that the
# installed nginx provides, and the package of the libpython the module
# links.
abi=$(dpkg-query -W -f='${Provides}' nginx | tr ',' '\n' | sed -n 's/^ *\(nginx-abi-[^ ]*\).*/\1/p')
libpython=$(readelf -d "$module" | sed -n 's/.*(NEEDED).*\[\(libpython[^]]*\)\].*/\1/p')
libpython_package=$(dpkg -S "*/$libpython" | head -n 1 | cut -d : -f 1)
depends=$(dpkg-query -W -f='${Depends}' "$package")
like "$depends" "(^|, )$abi(,|$)" "it depends on the nginx ABI of the installed nginx ($abi)"
like "$depends" "(^|, )$libpython_package( |,|$)" "it depends on the libpython the module links ($libpython_package)"
is "$(cat "$available")" "load_module modules/ngx_http_wsgi_module.so;" \
    "modules-available/mod-http-wsgi.conf loads the module"
is "$(readlink "$link")" "$available" "the module is enabled by a link in modules-enabled"
out=$(nginx_t) && st=0 || st=$?
ok $st "nginx -t passes with the module enabled"
[ $st = 0 ] || echo "$out" | sed 's/^/# /'

echo "# a site with a WSGI app, through the system nginx"
mkdir -p "$tmp/app"
cp nginx-conf/demo/app.py "$tmp/app/"
chmod -R a+rX "$tmp/app"
cat > "$site" <<EOF
server {
    listen 127.0.0.1:$port;
    error_log $tmp/error.log info;
    access_log off;
    location / {
        wsgi_python_path $tmp/app;
        wsgi_app app:application;
    }
}
EOF
ln -s "$site" /etc/nginx/sites-enabled/ngx-wsgi-package-test
out=$(nginx_t) && st=0 || st=$?
ok $st "nginx -t passes with the site"
[ $st = 0 ] || echo "$out" | sed 's/^/# /'
check "nginx starts (/usr/sbin/nginx, /etc/nginx/nginx.conf)" nginx_start "$pidfile" /usr/sbin/nginx
body=$(curl -s --max-time 10 "http://127.0.0.1:$port/" || true)
like "$body" '<title>ngx-wsgi demo</title>' "the site's WSGI app answers"
is "$(workers_users "$pidfile")" www-data "the workers run as www-data"
app_pid=$(echo "$body" | sed -n 's/.*in nginx worker pid \([0-9]*\),.*/\1/p')
like "$(ps -o user=,ppid= -p "${app_pid:-0}")" "^www-data +$(cat "$pidfile")$" \
    "... and the app runs in one of them (pid ${app_pid:-none})"
if ! grep -q '<title>ngx-wsgi demo' <<<"$body"; then
    tail -n 20 "$tmp/error.log" /var/log/nginx/error.log 2>/dev/null | sed 's/^/# /'
fi
check "nginx stops" nginx_stop "$pidfile"

echo "# remove: apt-get remove $package"
rm -f "$site" /etc/nginx/sites-enabled/ngx-wsgi-package-test
check "apt-get remove removes the package" apt_get remove "$package"
check "the module is gone" test ! -e "$module"
check "its link is disabled (${link##*/}.removed, as Debian's modules do)" \
    test ! -e "$link" -a -L "$link.removed"
out=$(nginx_t) && st=0 || st=$?
ok $st "nginx -t passes without the module"
[ $st = 0 ] || echo "$out" | sed 's/^/# /'
check "nginx starts without the module" nginx_start "$pidfile" /usr/sbin/nginx
check "... and stops" nginx_stop "$pidfile"

echo "# the link on reinstall, upgrade and purge"
check "reinstalling after a removal" apt_get install "$deb"
is "$(readlink "$link")" "$available" "... enables the module again"
check "... and drops ${link##*/}.removed" test ! -L "$link.removed"
# The administrator disables the module, then a new version comes.
rm "$link"
version=$(dpkg-query -W -f='${Version}' "$package")
dpkg-deb -R "$deb" "$tmp/upgrade"
sed -i "s/^Version: .*/Version: $version+1/" "$tmp/upgrade/DEBIAN/control"
dpkg-deb --root-owner-group -b "$tmp/upgrade" "$tmp/upgrade.deb" >/dev/null
check "upgrading to $version+1" apt_get install "$tmp/upgrade.deb"
is "$(dpkg-query -W -f='${Version}' "$package")" "$version+1" "... upgrades"
check "... and leaves the module disabled, as the administrator left it" test ! -e "$link" -a ! -L "$link"
check "purging" apt_get purge "$package"
check "... leaves no link" test ! -L "$link" -a ! -L "$link.removed"
is "$(package_state)" not-installed \
    "... nor the package"

echo "# the machine's nginx as found"
restore
trap - EXIT
is "$(etc_listing)" "$etc_before" "/etc/nginx holds what it held before"
running=false
if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then running=true; fi
is "$running" "$was_running" "nginx runs if it ran before"

done_testing
