#!/usr/bin/env bash
# Starts (start) or stops (stop) the external containers the uwsgi_upstream
# suites talk to: two Debian uWSGI servers running t/apps/upstream_app.py
# (one on TCP and a unix socket, one on TCP only), and the misbehaving fake
# upstreams of t/tools/fake_upstream.py. Everything listens on loopback,
# is stopped by PID, and the fakes exit by themselves after 30 minutes.
#   scripts/test-upstreams.sh start   prints the TEST_NGINX_* exports to eval
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$PWD/build/test-upstreams
mkdir -p "$dir"

stop() {
    for f in "$dir"/*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        kill -INT "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$f"
    done
}

case "${1:-}" in
start)
    stop
    rm -f "$dir"/*.sock
    for i in a b; do
        if [ $i = a ]; then sockets=(--socket 127.0.0.1:1991 --socket "$dir/a.sock"); else sockets=(--socket 127.0.0.1:1992); fi
        uwsgi --plugin python3 --master --processes 2 "${sockets[@]}" --chmod-socket=666 \
            --chdir "$PWD/t/apps" --module upstream_app:application \
            --env UWSGI_SERVER_ID=$i --disable-logging --die-on-term \
            --pidfile "$dir/uwsgi-$i.pid" --daemonize "$dir/uwsgi-$i.log"
    done
    python3 t/tools/fake_upstream.py 1800 junk:1993 silent:1994 backlog:1995 >"$dir/fake.log" 2>&1 &
    echo $! > "$dir/fake.pid"
    for _ in $(seq 100); do
        [ -S "$dir/a.sock" ] && (exec 3<>/dev/tcp/127.0.0.1/1992) 2>/dev/null && break
        sleep 0.1
    done
    echo "export TEST_NGINX_UWSGI_PORT=1991 TEST_NGINX_UWSGI_PORT_B=1992 TEST_NGINX_UWSGI_SOCKET=$dir/a.sock"
    echo "export TEST_NGINX_JUNK_PORT=1993 TEST_NGINX_SILENT_PORT=1994 TEST_NGINX_BACKLOG_PORT=1995"
    ;;
stop)
    stop
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
