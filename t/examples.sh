#!/usr/bin/env bash
# Serves the examples users copy, nginx-conf/django.conf, flask.conf and
# fallback.conf, as they are: each file is included in an http {} block
# like Debian's nginx.conf (workers as www-data when run as root), with
# only the placeholders its header lists replaced (paths, ports), and
# answers real requests with the project's own applications.
#
# Reads the variables of the Test::Nginx suites: TEST_NGINX_BINARY,
# TEST_NGINX_LOAD_MODULES, TEST_NGINX_APPS, TEST_NGINX_FRAMEWORKS_VENV
# (scripts/frameworks-venv.sh) and TEST_NGINX_UWSGI_PORT (the uWSGI of
# scripts/test-upstreams.sh); listens on TEST_NGINX_PORT + 2.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. t/lib/tap.sh

nginx=${TEST_NGINX_BINARY:?}
apps=${TEST_NGINX_APPS:?}
venv=${TEST_NGINX_FRAMEWORKS_VENV:?}
uwsgi_port=${TEST_NGINX_UWSGI_PORT:?}
port=$((${TEST_NGINX_PORT:-1984} + 2))
url=http://127.0.0.1:$port

# Everything the workers read lives here, readable by www-data (a checkout
# under /root is not).
tmp=$(mktemp -d /tmp/ngx-wsgi-examples.XXXXXX)
chmod 755 "$tmp"
prefix=$tmp/nginx
trap 'nginx_stop "$prefix/logs/nginx.pid" || true; rm -rf "$tmp"' EXIT

# serve EXAMPLE SED-EXPRESSION...: (re)starts nginx with the example as its
# only site, the placeholders replaced by the sed expressions.
serve() {
    local example=$1
    shift
    nginx_stop "$prefix/logs/nginx.pid" || true
    rm -rf "$prefix"
    mkdir -p "$prefix/conf" "$prefix/logs"
    sed -e "s|listen 80;|listen 127.0.0.1:$port;|" "$@" "$root/nginx-conf/$example" > "$prefix/conf/site.conf"
    {
        for m in ${TEST_NGINX_LOAD_MODULES:-}; do echo "load_module $m;"; done
        if [ "$(id -u)" = 0 ]; then echo "user www-data;"; fi
        cat <<EOF
worker_processes 2;
error_log logs/error.log info;
pid logs/nginx.pid;
events { worker_connections 256; }
http {
    access_log off;
    include site.conf;
}
EOF
    } > "$prefix/conf/nginx.conf"
    if ! nginx_start "$prefix/logs/nginx.pid" "$nginx" -p "$prefix/" -c conf/nginx.conf; then
        ok 1 "$example: nginx starts"
        cat "$prefix/logs/error.log" 2>/dev/null | sed 's/^/# /'
        return 1
    fi
    ok 0 "$example: nginx starts"
}

# get PATH [CURL ARGS...]: sets status and body (without its final
# newlines; its bytes are in $tmp/body)
get() {
    local path=$1
    shift
    status=$(curl -s --max-time 20 -o "$tmp/body" -w '%{http_code}' "$@" "$url$path") || true
    body=$(cat "$tmp/body" 2>/dev/null || true)
}

log_lacks_errors() {
    ! grep -E '\[(alert|crit|emerg|error)\]' "$prefix/logs/error.log"
}

workers_are_www_data() {
    if [ "$(id -u)" != 0 ]; then
        echo "# (not root: the workers run as $(id -un))"
        return 0
    fi
    is "$(workers_users "$prefix/logs/nginx.pid")" www-data "workers run as www-data"
}

# The frameworks venv, once, for the Django and Flask examples: hard links
# where /tmp shares the checkout's file system.
cp -al "$venv" "$tmp/venv" 2>/dev/null || { rm -rf "$tmp/venv"; cp -a "$venv" "$tmp/venv"; }

echo "# nginx-conf/django.conf: the Django project, its static and media files"
site=$tmp/djproj
mkdir -p "$site/media/notes"
cp -r "$apps/frameworks/djproj" "$site/djproj"
ln -s "$tmp/venv" "$site/venv"
# As a deploy does: python manage.py collectstatic (into STATIC_ROOT)
(cd "$site" && DJANGO_SETTINGS_MODULE=djproj.settings DJPROJ_DB_DIR=$tmp/collectstatic-db \
    PYTHONPATH=$site venv/bin/python3 -m django collectstatic --noinput -v 0)
echo "an uploaded file $$" > "$site/media/notes/attachment.txt"
chmod -R a+rX "$site"

serve django.conf -e "s|/srv/djproj|$site|g"
get /notes/
is "$status" 200 "django.conf: the app serves a page"
like "$body" '<form method="post" action="/notes/">' "django.conf: ... Django's form, at the root"
get /admin/login/
is "$status" 200 "django.conf: the admin's login page"
css=$(echo "$body" | grep -Eo 'href="/static/[^"]*base\.css"' | head -n 1 | cut -d '"' -f 2)
like "$css" '^/static/admin/css/base\.css$' "django.conf: ... links its stylesheet under STATIC_URL"
get "$css"
is "$status" 200 "django.conf: the stylesheet, a static file (DEBUG is off: Django serves none)"
check "django.conf: ... is the one collectstatic collected" \
    cmp -s "$tmp/body" "$(ls "$tmp/venv"/lib/python3*/site-packages/django/contrib/admin/static/admin/css/base.css)"
get /media/notes/attachment.txt
is "$status" 200 "django.conf: a media file"
is "$body" "an uploaded file $$" "django.conf: ... from MEDIA_ROOT"
workers_are_www_data
check "django.conf: no error in the error log" log_lacks_errors

echo "# nginx-conf/flask.conf: the Flask application and its static folder"
site=$tmp/flask_app
mkdir -p "$site/static"
cp "$apps/frameworks/flask_app.py" "$site/"
ln -s "$tmp/venv" "$site/venv"
echo "a static file $$" > "$site/static/hello.txt"
chmod -R a+rX "$site"

serve flask.conf -e "s|/srv/flask_app|$site|g"
get '/api/items/2?q=x'
is "$status" 200 "flask.conf: the app answers"
like "$body" '"id": ?2, ?"name": ?"eggs", ?"path": ?"/api/items/2", ?"q": ?"x", ?"script_root": ?"", ?"url": ?"/api/items/2"' \
    "flask.conf: ... with its JSON, mounted at the root"
get /form --data 'b=2&a=1&a=3'
like "$body" '^content_type=application/x-www-form-urlencoded$' "flask.conf: a form post reaches Flask"
like "$body" '^a=1\|3$' "flask.conf: ... with its fields"
get /static/hello.txt
is "$body" "a static file $$" "flask.conf: the static folder, served by nginx"
get /nowhere
is "$status" 404 "flask.conf: Flask's own 404"
workers_are_www_data
check "flask.conf: no error in the error log" log_lacks_errors

echo "# nginx-conf/fallback.conf: the embedded app first, uWSGI behind it"
site=$tmp/mysite
mkdir -p "$site" "$tmp/empty"
cp "$apps/upstream_app.py" "$site/"
chmod -R a+rX "$site" "$tmp/empty"

serve fallback.conf -e "s|/srv/mysite|$site|g" -e "s|127\.0\.0\.1:3031|127.0.0.1:$uwsgi_port|"
get '/key?wsgi.file_wrapper'
is "$body" "wsgi.file_wrapper=<class 'ngx_wsgi.FileWrapper'>" \
    "fallback.conf: the embedded app serves (ngx-wsgi's environ)"
check "fallback.conf: ... and nothing is passed to uWSGI" \
    bash -c "! grep -q 'passed to uwsgi_upstream' '$prefix/logs/error.log'"

# The app's directory without the app: its import fails in the workers.
serve fallback.conf -e "s|/srv/mysite|$tmp/empty|g" -e "s|127\.0\.0\.1:3031|127.0.0.1:$uwsgi_port|"
get /server
is "$status $body" "200 a" \
    "fallback.conf: with the app unavailable, uWSGI answers (its server a, on that port)"
get '/key?wsgi.file_wrapper'
like "$body" '^wsgi\.file_wrapper=<built-in function uwsgi_sendfile>$' \
    "fallback.conf: ... with uWSGI's environ"
check "fallback.conf: ... and each fallback is logged with its reason" \
    grep -q 'passed to uwsgi_upstream (the app failed to load when the worker started)' "$prefix/logs/error.log"

done_testing
