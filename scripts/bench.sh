#!/usr/bin/env bash
# Benchmarks wsgi_app against nginx alone, uwsgi_upstream and stock
# uwsgi_pass to uWSGI (unix socket and TCP), and Granian and gunicorn for
# reference; and asgi_app against uvicorn behind nginx's proxy_pass, and
# uvicorn and Granian for reference; with wrk over loopback (WebSockets:
# scripts/bench/wsload.py). nginx runs one worker, every application server
# one process.
#
#   scripts/bench.sh                      the full run: every scenario, 3 rounds of 5 s
#   scripts/bench.sh --duration 2 --rounds 1 --scenarios hello,stream
#   scripts/bench.sh --report             the table, CSV and chart again, from the last run
#   scripts/bench.sh --help               every option
#
# Scenarios: hello (13 bytes), stream (1 MiB in 64 KiB chunks), file (1 MiB
# through wsgi.file_wrapper, beside nginx serving it statically), sleep
# (10 ms, 256 connections, wsgi_threads 1/16/64), post (1 MiB body read by
# the app, client_body_buffer_size 2m), post-default (the same with nginx's
# default body buffer, so a temp file). Granian runs beside every scenario.
# ASGI: asgi-hello (13 bytes), asgi-stream (1 MiB in 64 KiB body messages),
# asgi-json (FastAPI: a pydantic model, about 200 bytes of JSON),
# asgi-ws-echo (WebSocket echo of 32-byte text messages, one in flight per
# connection, in messages/s; the load from wsload.py, 2 processes), each on
# asgi_app, nginx proxy_pass -> uvicorn, uvicorn and Granian, all on uvloop.
# Runs are interleaved (A B C A B C ...); the table of medians and the
# targets are printed and written to build/bench/ (results.md, results.csv,
# runs.csv, bench.png).
#
# Installs what is missing (as root): wrk, uWSGI and its python3 plugin,
# gnuplot for the chart; builds nginx and the module with scripts/build.sh
# if they are missing; makes build/bench/venv with Granian, gunicorn,
# uvicorn, uvloop, websockets and FastAPI unless --no-reference. Every
# server (and load client) it starts is stopped by its PID at the end, on
# error and on interrupt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build/bench
pids=$out/run/pids

case " $* " in
    *" -h "*|*" --help "*|*" --report "*) exec /usr/bin/python3 scripts/bench/bench.py "$@" ;;
esac

# Stops what a run left behind: each pid file holds the process's start time,
# so a pid the kernel has since given to another process is left alone.
cleanup() {
    [ -d "$pids" ] || return 0
    for f in "$pids"/*; do
        [ -f "$f" ] || continue
        pid=${f##*/}
        read -r start _ < "$f" || start=
        if [ -r "/proc/$pid/stat" ] && [ "$(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f20)" = "$start" ]; then
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
        rm -f "$f"
    done
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM HUP
cleanup

# --- scripts/bench/deps: the Debian packages the benchmark needs
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v uwsgi >/dev/null || need+=(uwsgi)
[ -f /usr/lib/uwsgi/plugins/python3_plugin.so ] || need+=(uwsgi-plugin-python3)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
command -v curl >/dev/null || need+=(curl)
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "bench.sh: missing packages: ${need[*]}; run as root or install them" >&2
        exit 1
    fi
    echo "bench.sh: installing ${need[*]}" >&2
    timeout 300 apt-get update -qq
    # Debian starts uWSGI's service on install; the benchmark runs its own.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d; cleanup' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- nginx and the module
if [ ! -x build/sbin/nginx ] || [ ! -f build/modules/ngx_http_wsgi_module.so ]; then
    scripts/deps.sh --build
    scripts/build.sh
fi

# --- The Python servers and frameworks, in a venv of Debian's Python (the
# one the module embeds, so that asgi_app runs the venv too, through
# wsgi_python_home): Granian and gunicorn for reference; uvicorn, direct and
# behind proxy_pass; uvloop, which asgi_app, Granian, uvicorn and the
# WebSocket client run their loop on; websockets, uvicorn's WebSocket
# implementation in asgi-ws-echo (--ws websockets-sansio); FastAPI for
# asgi-json. Pinned, dependencies included (installed with --no-deps, then
# pip check: a dependency missing from the list fails the install instead
# of coming in unpinned), so that runs on different days compare the same
# code (and the options bench.py passes exist); a venv with other versions
# is brought to these.
reference=(
    granian==2.8.7 click==8.5.1
    gunicorn==27.0.1
    # uvicorn with uvloop, httptools and websockets (of uvicorn[standard],
    # without watchfiles, python-dotenv and PyYAML)
    uvicorn==0.54.0 h11==0.16.0 uvloop==0.23.0 httptools==0.9.0 websockets==17.4
    fastapi==0.165.0 starlette==1.10.0 pydantic==2.14.4 pydantic_core==2.50.5
    annotated-types==0.8.0 annotated-doc==0.0.7 typing-inspection==0.4.5
    typing_extensions==4.16.0 anyio==4.16.0 idna==3.20 opentelemetry-api==1.45.2
)
case " $* " in
    *" --no-reference "*) ;;
    *)
        if [ "$(cat "$out/venv/reference" 2>/dev/null)" != "${reference[*]}" ]; then
            mkdir -p "$out"
            echo "bench.sh: installing ${reference[*]} in $out/venv" >&2
            { /usr/bin/python3 -m venv "$out/venv" \
                && timeout 300 "$out/venv/bin/pip" install -q --disable-pip-version-check --no-deps "${reference[@]}" \
                && "$out/venv/bin/pip" check --disable-pip-version-check >&2 \
                && echo "${reference[*]}" > "$out/venv/reference"; } \
                || echo "bench.sh: no venv of Python servers; the rows that need it are skipped" >&2
        fi
        ;;
esac

/usr/bin/python3 scripts/bench/bench.py "$@"
