#!/usr/bin/env bash
# Builds what is missing and starts nginx with ngx-wsgi serving the demo app
# (nginx-conf/demo/app.py) on http://127.0.0.1:8080/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
prefix=$root/build/demo

scripts/deps.sh --build
scripts/build.sh

mkdir -p "$prefix/conf" "$prefix/logs"
sed "s|@ROOT@|$root|g" nginx-conf/demo.conf > "$prefix/conf/nginx.conf"

# A demo started earlier is stopped first (by its own pid file).
if [ -f "$prefix/logs/nginx.pid" ] && kill -0 "$(cat "$prefix/logs/nginx.pid")" 2>/dev/null; then
    build/sbin/nginx -p "$prefix" -s quit
    for _ in $(seq 50); do [ -f "$prefix/logs/nginx.pid" ] || break; sleep 0.1; done
fi

build/sbin/nginx -p "$prefix" -c conf/nginx.conf
for _ in $(seq 50); do
    curl -sf -o /dev/null http://127.0.0.1:8080/ && break
    sleep 0.1
done
curl -sf -o /dev/null http://127.0.0.1:8080/ || { tail -20 "$prefix/logs/error.log"; exit 1; }
echo "ngx-wsgi demo: http://127.0.0.1:8080/"
echo "  logs: $prefix/logs/error.log   stop: build/sbin/nginx -p $prefix -s quit"
