#!/usr/bin/python3
"""The benchmark runner behind scripts/bench.sh (see its header for usage).

Every run starts its own servers (nginx with one worker, and uWSGI, Granian,
gunicorn or uvicorn with one application process), checks one response, warms up,
loads them with wrk for a fixed duration (asgi-ws-echo: with wsload.py, the
WebSocket client beside this file), reads the servers' CPU time and
RSS from /proc, and stops them by PID. Runs are interleaved: round 1 runs
every (scenario, server) once, then round 2, ... The summary takes medians
over the rounds.

Outputs, under build/bench/: runs.csv (every run), results.csv (medians),
results.md (the table and the targets, as printed) and bench.png (a chart,
when gnuplot is installed).
"""
import argparse
import csv
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
APPS = os.path.join(HERE, "apps")
OUT = os.path.join(ROOT, "build", "bench")
RUN = os.path.join(OUT, "run")          # configs, logs, sockets, pid files
PIDS = os.path.join(RUN, "pids")        # one file per server process we started
WWW = os.path.join(OUT, "www")
FILE = os.path.join(WWW, "1m.bin")
VENV = os.path.join(OUT, "venv")
BUILT_NGINX = os.path.join(ROOT, "build", "sbin", "nginx")
BUILT_MODULE = os.path.join(ROOT, "build", "modules", "ngx_http_wsgi_module.so")
# The run uses copies, so that a rebuild during the run changes nothing.
NGINX = os.path.join(RUN, "bin", "nginx")
MODULE = os.path.join(RUN, "bin", "ngx_http_wsgi_module.so")
SOCK = os.path.join(RUN, "uwsgi.sock")

PORT_NGINX, PORT_UWSGI, PORT_GRANIAN, PORT_GUNICORN, PORT_UVICORN = 18100, 18101, 18102, 18103, 18104
CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1 << 20
WSGI_THREADS_DEFAULT = 8   # the module's default, used where a scenario does not set it

# Servers. kind: how it is started; transport: for uwsgi_pass/uwsgi_upstream;
# threads: wsgi_threads, or Granian's --blocking-threads; needs: a directive
# the build may not have yet (probed with nginx -t; the row is skipped, with
# nginx's message, when it is missing).
SERVERS = {
    "return200":     dict(kind="return", label="nginx return 200"),
    "static":        dict(kind="static", label="nginx static file"),
    "wsgi":          dict(kind="wsgi", label="wsgi_app"),
    "wsgi-inline":   dict(kind="wsgi", inline=True, label="wsgi_app, wsgi_inline on"),
    # The same as wsgi, plus a `location = /metrics { wsgi_status; }`: the
    # module then keeps its shared-memory zone and each worker publishes its
    # figures once a second. Only the hello requests are loaded.
    "wsgi-status":   dict(kind="wsgi", status=True, needs="wsgi_status",
                          label="wsgi_app, metrics on (wsgi_status)"),
    # The app is called once the headers are in and reads the body as it
    # arrives, instead of after nginx has read (and spooled) all of it.
    "wsgi-streaming": dict(kind="wsgi", request_buffering=False, needs="wsgi_request_buffering",
                           label="wsgi_app, wsgi_request_buffering off"),
    "wsgi-t1":       dict(kind="wsgi", threads=1, label="wsgi_app, wsgi_threads 1"),
    "wsgi-t16":      dict(kind="wsgi", threads=16, label="wsgi_app, wsgi_threads 16"),
    "wsgi-t64":      dict(kind="wsgi", threads=64, label="wsgi_app, wsgi_threads 64"),
    "upstream-unix": dict(kind="upstream", transport="unix", needs="uwsgi_upstream",
                          label="uwsgi_upstream unix → uWSGI"),
    "upstream-tcp":  dict(kind="upstream", transport="tcp", needs="uwsgi_upstream",
                          label="uwsgi_upstream tcp → uWSGI"),
    "pass-unix":     dict(kind="pass", transport="unix", label="uwsgi_pass unix → uWSGI"),
    "pass-tcp":      dict(kind="pass", transport="tcp", label="uwsgi_pass tcp → uWSGI"),
    "pass-unix-t64": dict(kind="pass", transport="unix", uwsgi_threads=64,
                          label="uwsgi_pass unix → uWSGI --threads 64"),
    # Granian calls a WSGI app on its "blocking threads" (--blocking-threads,
    # per worker: the pool that runs Python, as wsgi_threads is), while its
    # "runtime threads" are the Rust I/O event loops (--runtime-threads,
    # default 1, as nginx's one worker). Each row sets the blocking threads:
    # 8 beside wsgi_app's default wsgi_threads 8, and for sleep the 1, 16 and
    # 64 of wsgi_app's rows. Not Granian's default, which for WSGI is up to
    # backpressure / 2 = 512 threads: on hello that ran at 0.6-0.8x the req/s
    # of 8 threads, at 1.5-1.9x their CPU per request, and would flatter
    # wsgi_app. hello also has Granian with one blocking thread, its fastest
    # there in our trials (a CPU-only app gains nothing from more threads
    # sharing the GIL).
    "granian":       dict(kind="granian", threads=8, label="Granian --blocking-threads 8, direct (reference)"),
    "granian-t1":    dict(kind="granian", threads=1, label="Granian --blocking-threads 1, direct (reference)"),
    "granian-t16":   dict(kind="granian", threads=16, label="Granian --blocking-threads 16, direct (reference)"),
    "granian-t64":   dict(kind="granian", threads=64, label="Granian --blocking-threads 64, direct (reference)"),
    "gunicorn":      dict(kind="gunicorn", label="gunicorn gthread 8, direct (reference)"),
    # ASGI (the asgi-* scenarios), every server on uvloop, from build/bench/venv.
    # asgi_app: one worker's loop thread, asgi_loop auto (uvloop, since it
    # imports: nginx runs the venv through wsgi_python_home).
    "asgi":          dict(kind="asgi", needs="asgi_app", label="asgi_app"),
    # nginx in front of an ASGI server: proxy_pass over HTTP/1.1 with
    # keep-alive upstream connections (keepalive 64, as many as wrk's
    # connections), to the uvicorn below; nginx's other proxy settings are
    # its defaults, as uwsgi_pass's are.
    "proxy-uvicorn": dict(kind="proxy", label="proxy_pass → uvicorn"),
    # uvicorn --workers 1 --loop uvloop --http httptools --no-access-log.
    "uvicorn":       dict(kind="uvicorn", label="uvicorn, direct (reference)"),
    # Granian's ASGI interface runs the app on its one blocking thread (the
    # only count it accepts for ASGI) with an asyncio-compatible loop,
    # --loop auto (uvloop, since it imports), and one runtime thread, as
    # for WSGI.
    "granian-asgi":  dict(kind="granian", interface="asgi", label="Granian --interface asgi, direct (reference)"),
}
REFERENCE_KINDS = ("granian", "gunicorn", "uvicorn")   # standalone, in build/bench/venv

# Scenarios. ceiling: the server whose req/s is the scenario's ceiling
# (for sleep: the ideal threads / 10 ms; None elsewhere: no ceiling). body:
# expected response body size. post: the request body's size. body_buffer:
# nginx's client_body_buffer_size (None: nginx's default, 8k on x86-64, so
# that a 1 MiB body goes to a temp file). asgi: the ASGI application (in
# apps/) that every server of the scenario runs, instead of bench_app's WSGI
# callable.
SCENARIOS = {
    "hello": dict(path="/hello", body=13, ceiling="return200",
                  servers=["return200", "wsgi", "wsgi-inline", "wsgi-status", "upstream-unix", "upstream-tcp",
                           "pass-unix", "pass-tcp", "granian", "granian-t1", "gunicorn"]),
    "stream": dict(path="/stream", body=MIB, ceiling="static",
                   servers=["static", "wsgi", "upstream-unix", "upstream-tcp", "pass-unix", "pass-tcp",
                            "granian"]),
    "file": dict(path="/file", body=MIB, ceiling="static",
                 servers=["static", "wsgi", "upstream-unix", "pass-unix", "granian"]),
    "sleep": dict(path="/sleep", body=13, ceiling=None, connections=256,
                  servers=["wsgi-t1", "wsgi-t16", "wsgi-t64", "pass-unix-t64",
                           "granian-t1", "granian-t16", "granian-t64"]),
    # nginx keeps the whole body in memory, for every server alike
    "post": dict(path="/post", body=None, ceiling="return200", post=MIB, body_buffer="2m",
                 servers=["return200", "wsgi", "upstream-unix", "upstream-tcp", "pass-unix", "pass-tcp",
                          "granian"]),
    # nginx as installed: the body goes to a temp file before the app (or
    # uWSGI) sees it, unless wsgi_request_buffering is off
    "post-default": dict(path="/post", body=None, ceiling="return200", post=MIB, body_buffer=None,
                         servers=["return200", "wsgi", "wsgi-streaming", "upstream-unix", "pass-unix",
                                  "granian"]),
    "asgi-hello": dict(path="/hello", body=13, ceiling="return200", asgi="bench_asgi:app",
                       servers=["return200", "asgi", "proxy-uvicorn", "uvicorn", "granian-asgi"]),
    "asgi-json": dict(path="/json", body=199, ceiling=None, asgi="bench_fastapi:app",
                      servers=["asgi", "proxy-uvicorn", "uvicorn", "granian-asgi"]),
    "asgi-stream": dict(path="/stream", body=MIB, ceiling="static", asgi="bench_asgi:app",
                        servers=["static", "asgi", "proxy-uvicorn", "uvicorn", "granian-asgi"]),
    # WebSocket echo: wsload.py (not wrk) keeps one 32-byte text message in
    # flight on each connection; "requests" are echoed messages (round trips).
    # uvicorn runs --ws websockets-sansio here (--ws none elsewhere): its
    # implementation on the websockets package that --ws auto picks (0.54's
    # --ws websockets is the legacy one, deprecated with a warning at start);
    # Granian runs without --no-ws; nginx → uvicorn passes the Upgrade (see
    # nginx_conf).
    "asgi-ws-echo": dict(path="/ws", body=None, ceiling=None, asgi="bench_asgi:app", websocket=32,
                         servers=["asgi", "proxy-uvicorn", "uvicorn", "granian-asgi"]),
}
SCENARIO_TITLES = {
    "hello": "hello world, 13 bytes",
    "stream": "1 MiB from a generator, 64 KiB chunks",
    "file": "1 MiB file, wsgi.file_wrapper",
    "sleep": "time.sleep(0.01), 256 connections",
    "post": "1 MiB POST read by the app, client_body_buffer_size 2m",
    "post-default": "1 MiB POST read by the app, nginx's default body buffer",
    "asgi-hello": "ASGI hello world, 13 bytes",
    "asgi-json": "FastAPI, a pydantic model as JSON, 199 bytes",
    "asgi-stream": "ASGI, 1 MiB in 64 KiB body messages",
    "asgi-ws-echo": "ASGI WebSocket echo, 32-byte text messages, one in flight per connection",
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Stop(Exception):
    pass


def on_signal(signum, frame):
    raise Stop(f"signal {signum}")


# ---------------------------------------------------------------- /proc

def proc_stat(pid):
    """(ppid, utime+stime ticks, starttime) of a process, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15, starttime 22
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[19])


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[0] == pid:
                out.append(int(d))
    return out


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children(p):
            out.append(c)
            todo.append(c)
    return out


def cpu_ticks(pids):
    total = 0
    for p in pids:
        st = proc_stat(p)
        if st is None:
            raise RuntimeError(f"process {p} went away during the run")
        total += st[1]
    return total


def machine_busy():
    """Non-idle CPU time of the whole machine, in ticks (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is inside user)
    return sum(v[:8]) - v[3] - v[4]


def children_cpu():
    """CPU seconds of the waited-for children (wrk, once it has exited)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def rss_kib(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


# ---------------------------------------------------------------- servers

class Server:
    """A process we start in its own session and stop by its PID."""

    def __init__(self, name, argv, cwd=None, env=None, stop_signal=signal.SIGTERM):
        self.name = name
        self.stop_signal = stop_signal
        self.logpath = os.path.join(RUN, f"{name}.log")
        logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        logf.close()
        self.pid = self.proc.pid
        st = proc_stat(self.pid)
        self.pidfile = os.path.join(PIDS, str(self.pid))
        with open(self.pidfile, "w") as f:
            # bench.sh's trap checks the start time before it kills a leftover
            f.write(f"{st[2] if st else 0} {name}\n")

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self, n=15):
        try:
            with open(self.logpath, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, self.stop_signal)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log(f"  {self.name} (pid {self.pid}) did not stop in 10 s: SIGKILL to its process group")
        # whatever the server forked stays in the group we made for it
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.unlink(self.pidfile)
        except OSError:
            pass


def render(template, values):
    with open(os.path.join(HERE, template)) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace(f"@{k}@", v)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise RuntimeError(f"{template}: unfilled {left}")
    return text


def uwsgi_address(transport):
    return SOCK if transport == "unix" else f"127.0.0.1:{PORT_UWSGI}"


def nginx_conf(server_key, scenario, prefix, args):
    s = SERVERS[server_key]
    kind = s["kind"]
    load, http, loc = "", "", ""
    if kind == "return":
        loc = ('        location / {\n            default_type text/plain;\n'
               '            return 200 "Hello, world!";\n        }')
    elif kind == "static":
        loc = "        location / {\n        }"
    elif kind == "wsgi":
        load = f"load_module {MODULE};\nenv BENCH_FILE={FILE};"
        http = (f"    wsgi_python_path {APPS};\n"
                f"    wsgi_threads {s.get('threads', WSGI_THREADS_DEFAULT)};\n"
                f"    wsgi_queue {args.wsgi_queue};\n")
        extra = "            wsgi_inline on;\n" if s.get("inline") else ""
        if s.get("request_buffering") is False:
            extra += "            wsgi_request_buffering off;\n"
        loc = f"        location / {{\n{extra}            wsgi_app bench_app:application;\n        }}"
        if s.get("status"):
            loc += "\n        location = /metrics {\n            wsgi_status;\n        }"
    elif kind == "pass":
        addr = uwsgi_address(s["transport"])
        addr = f"unix:{addr}" if s["transport"] == "unix" else addr
        loc = (f"        location / {{\n            include {HERE}/uwsgi_params;\n"
               f"            uwsgi_pass {addr};\n        }}")
    elif kind == "upstream":
        load = f"load_module {MODULE};"
        addr = uwsgi_address(s["transport"])
        addr = f"unix:{addr}" if s["transport"] == "unix" else addr
        loc = f"        location / {{\n            uwsgi_upstream {addr};\n        }}"
    elif kind == "asgi":
        load = f"load_module {MODULE};"
        http = (f"    wsgi_python_home {VENV};\n"
                f"    wsgi_python_path {APPS};\n"
                "    asgi_loop auto;\n")
        loc = f"        location / {{\n            asgi_app {SCENARIOS[scenario]['asgi']};\n        }}"
    elif kind == "proxy":
        http = (f"    upstream uvicorn {{\n        server 127.0.0.1:{PORT_UVICORN};\n"
                f"        keepalive {args.connections};\n    }}\n")
        if SCENARIOS[scenario].get("websocket"):
            # WebSocket proxying as nginx's documentation has it: HTTP/1.1, and
            # the client's Upgrade passed on with "Connection: upgrade" (the
            # hop-by-hop headers are not passed by themselves)
            http += ("    map $http_upgrade $connection_upgrade {\n"
                     "        default upgrade;\n        '' close;\n    }\n")
            conn = "$connection_upgrade"
            upgrade = "            proxy_set_header Upgrade $http_upgrade;\n"
        else:
            conn, upgrade = '""', ""
        loc = ("        location / {\n            proxy_pass http://uvicorn;\n"
               "            proxy_http_version 1.1;\n" + upgrade +
               f"            proxy_set_header Connection {conn};\n        }}")
    else:
        raise ValueError(kind)
    buf = SCENARIOS[scenario].get("body_buffer", "2m")
    body = (f"    client_body_buffer_size {buf};" if buf
            else "    # client_body_buffer_size: nginx's default")
    return render("nginx.conf.in", dict(LOAD_MODULE=load, PREFIX=prefix, PORT=str(PORT_NGINX),
                                        WWW=WWW, HTTP=http, LOCATIONS=loc, BODY_BUFFER=body))


def prepare_prefix(name):
    prefix = os.path.join(RUN, name)
    for d in ("conf", "logs", "tmp"):
        os.makedirs(os.path.join(prefix, d), exist_ok=True)
    return prefix


def start_nginx(server_key, scenario, args):
    prefix = prepare_prefix("nginx")
    conf = os.path.join(prefix, "conf", "nginx.conf")
    with open(conf, "w") as f:
        f.write(nginx_conf(server_key, scenario, prefix, args))
    return Server("nginx", [NGINX, "-p", prefix, "-c", conf, "-g", "daemon off;"])


def start_uwsgi(transport, threads):
    argv = ["uwsgi", "--master", "--processes", "1", "--plugin", "python3",
            "--disable-logging", "--die-on-term", "--need-app", "--vacuum",
            "--socket", uwsgi_address(transport), "--listen", "1024",
            "--chdir", APPS, "--pythonpath", APPS, "--module", "bench_app:application",
            "--env", f"BENCH_FILE={FILE}"]
    if threads:
        argv += ["--threads", str(threads)]
    return Server("uwsgi", argv, cwd=APPS)


def venv_bin(name):
    return os.path.join(VENV, "bin", name)


def venv_needs(server_key):
    """The file of build/bench/venv that a server needs, or None: the
    standalone servers' commands, and for asgi_app and nginx → uvicorn the
    venv's Python (uvloop, FastAPI) and uvicorn."""
    kind = SERVERS[server_key]["kind"]
    if kind in REFERENCE_KINDS:
        return venv_bin(kind)
    return {"asgi": venv_bin("python3"), "proxy": venv_bin("uvicorn")}.get(kind)


def reference_argv(server_key, scenario):
    """(port, argv) of a standalone server (Granian, gunicorn, uvicorn): one
    process, the scenario's app (bench_app's WSGI callable, or its asgi), on
    loopback."""
    s = SERVERS[server_key]
    app = SCENARIOS[scenario].get("asgi", "bench_app:application")
    ws = bool(SCENARIOS[scenario].get("websocket"))
    if s["kind"] == "granian":
        argv = [venv_bin("granian"), "--interface", s.get("interface", "wsgi"), "--host", "127.0.0.1",
                "--port", str(PORT_GRANIAN), "--workers", "1", "--ws" if ws else "--no-ws",
                "--log-level", "warning"]
        if s.get("threads"):
            argv += ["--blocking-threads", str(s["threads"])]
        return PORT_GRANIAN, argv + [app]
    if s["kind"] == "gunicorn":
        return PORT_GUNICORN, [venv_bin("gunicorn"), "-w", "1", "-k", "gthread", "--threads", "8",
                               "-b", f"127.0.0.1:{PORT_GUNICORN}", "--log-level", "warning", app]
    if s["kind"] == "uvicorn":
        return PORT_UVICORN, [venv_bin("uvicorn"), "--host", "127.0.0.1", "--port", str(PORT_UVICORN),
                              "--workers", "1", "--loop", "uvloop", "--http", "httptools",
                              "--ws", "websockets-sansio" if ws else "none",
                              "--no-access-log", "--log-level", "warning", app]
    raise ValueError(s["kind"])


def start_reference(server_key, scenario):
    port, argv = reference_argv(server_key, scenario)
    # SIGINT: gunicorn's quick shutdown (SIGTERM is its graceful one), Granian's and uvicorn's Ctrl-C
    return port, Server(SERVERS[server_key]["kind"], argv, cwd=APPS,
                        env=dict(os.environ, BENCH_FILE=FILE), stop_signal=signal.SIGINT)


def wait_port(port, server, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited:\n{server.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{server.name} not listening on {port} after {timeout} s:\n{server.log_tail()}")


def wait_unix(path, server, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited:\n{server.log_tail()}")
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            s.close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{server.name} not listening on {path} after {timeout} s:\n{server.log_tail()}")


def http_get(port, path, timeout=10, data=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class Setup:
    """The servers of one run: started, checked, measured, stopped."""

    def __init__(self, server_key, scenario, args):
        self.servers = []     # in stop order
        self.nginx = None
        self.server_key = server_key
        s = SERVERS[server_key]
        kind = s["kind"]
        self.port = PORT_NGINX
        self.path = "/1m.bin" if kind == "static" else SCENARIOS[scenario]["path"]
        try:
            if kind in ("pass", "upstream"):
                u = start_uwsgi(s["transport"], s.get("uwsgi_threads"))
                self.servers.append(u)
                if s["transport"] == "unix":
                    wait_unix(SOCK, u)
                else:
                    wait_port(PORT_UWSGI, u)
            if kind == "proxy":
                u = start_reference("uvicorn", scenario)[1]
                self.servers.append(u)
                wait_port(PORT_UVICORN, u)
            if kind in REFERENCE_KINDS:
                self.port, ref = start_reference(server_key, scenario)
                self.servers.append(ref)
                wait_port(self.port, ref)
            else:
                self.nginx = start_nginx(server_key, scenario, args)
                self.servers.insert(0, self.nginx)
                wait_port(PORT_NGINX, self.nginx)
        except BaseException:
            self.stop()
            raise

    def pids(self):
        """nginx: its workers (not the idle master); others: every process."""
        pids = []
        for srv in self.servers:
            if srv is self.nginx:
                pids += children(srv.pid)
            else:
                pids += [srv.pid] + descendants(srv.pid)
        return pids

    def stop(self):
        for srv in self.servers:
            srv.stop()
        self.servers = []


# ---------------------------------------------------------------- wrk

BENCH_RE = re.compile(r"^BENCH (.*)$", re.M)


def wrk(url, connections, threads, duration, post_bytes):
    argv = ["wrk", "-t", str(min(threads, connections)), "-c", str(connections),
            "-d", f"{duration}s", "--timeout", "10s", "-s", os.path.join(HERE, "wrk.lua"), url]
    env = dict(os.environ, BENCH_POST_BYTES=str(post_bytes or 0))
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True, text=True)
    pidfile = os.path.join(PIDS, str(p.pid))
    st = proc_stat(p.pid)
    with open(pidfile, "w") as f:
        f.write(f"{st[2] if st else 0} wrk\n")
    try:
        out, _ = p.communicate(timeout=duration + 30)
    except BaseException:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        raise
    finally:
        os.unlink(pidfile)
    m = BENCH_RE.search(out)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({p.returncode}):\n{out}")
    return {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


# ---------------------------------------------------------------- the WebSocket client

WSLOAD = os.path.join(HERE, "wsload.py")


def wsload_python():
    """The venv's Python (uvloop, for the client's own loop), else Debian's."""
    return venv_bin("python3") if os.access(venv_bin("python3"), os.X_OK) else "/usr/bin/python3"


def wsload(port, path, connections, processes, size, warmup, duration, at_start, at_end):
    """wsload.py's load: at_start() and at_end() are called when its measured
    window begins and ends (the servers' CPU is read then); returns its BENCH
    figures. Its processes are one process group, stopped by it on error."""
    argv = [wsload_python(), WSLOAD, "--port", str(port), "--path", path, "--connections", str(connections),
            "--processes", str(processes), "--size", str(size), "--warmup", str(warmup),
            "--duration", str(duration)]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, text=True)
    pidfile = os.path.join(PIDS, str(p.pid))
    st = proc_stat(p.pid)
    with open(pidfile, "w") as f:
        f.write(f"{st[2] if st else 0} wsload\n")
    deadline = time.time() + warmup + duration + 60
    out, result = [], None
    try:
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise RuntimeError("wsload did not finish in time:\n" + "".join(out[-20:]))
            if not select.select([p.stdout], [], [], left)[0]:
                continue
            line = p.stdout.readline()
            if not line:
                break
            if line == "START\n":
                at_start()
            elif line == "END\n":
                at_end()
            elif line.startswith("BENCH "):
                result = json.loads(line[6:])
            else:
                out.append(line)
        p.wait(timeout=10)
    except BaseException:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        raise
    finally:
        os.unlink(pidfile)
    if p.returncode != 0 or result is None:
        raise RuntimeError(f"wsload failed ({p.returncode}):\n{''.join(out[-20:])}")
    return result


def wsload_check(port, path, size):
    """One WebSocket, one message and its echo, a clean close (wsload.py --check)."""
    p = subprocess.run([wsload_python(), WSLOAD, "--check", "--port", str(port), "--path", path,
                        "--size", str(size)], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise RuntimeError((p.stderr or p.stdout).strip()[:500] or f"wsload --check exited {p.returncode}")


# ---------------------------------------------------------------- one run

def check_response(setup, scenario):
    """One request before the load: the status, the body size, and (file) whether
    the server has wsgi.file_wrapper. Returns a note, or raises."""
    sc = SCENARIOS[scenario]
    if sc.get("websocket"):
        wsload_check(setup.port, setup.path, sc["websocket"])
        status, _, loop = http_get(setup.port, "/loop")
        return {"loop": loop.decode(errors="replace")[:40] if status == 200 else f"? (GET /loop: {status})"}
    data = b"x" * sc["post"] if sc.get("post") else None
    status, headers, body = http_get(setup.port, setup.path, data=data)
    if status != 200:
        raise RuntimeError(f"{setup.path}: status {status}: {body[:200]!r}")
    want = sc["body"]
    if data is not None:
        want = None
        if SERVERS[setup.server_key]["kind"] != "return" and body != str(len(data)).encode():
            raise RuntimeError(f"POST {setup.path}: the app saw {body[:50]!r}, not {len(data)} bytes")
    if want is not None and len(body) != want:
        raise RuntimeError(f"GET {setup.path}: {len(body)} bytes, expected {want}")
    if SERVERS[setup.server_key].get("status"):
        # the metrics row is only worth its name if the zone is there and published
        status, _, text = http_get(setup.port, "/metrics")
        if status != 200 or b"ngx_wsgi_" not in text:
            raise RuntimeError(f"GET /metrics: status {status}, no ngx_wsgi_ figures: {text[:200]!r}")
    fw = {k.lower(): v for k, v in headers.items()}.get("x-bench-file-wrapper")
    info = {"file_wrapper": fw} if fw else {}
    if sc.get("asgi") and SERVERS[setup.server_key]["kind"] not in ("return", "static"):
        # which event loop the app runs on (every ASGI row is meant to be on uvloop)
        status, _, loop = http_get(setup.port, "/loop")
        info["loop"] = loop.decode(errors="replace")[:40] if status == 200 else f"? (GET /loop: {status})"
    return info


NGINX_LOG = os.path.join(RUN, "nginx", "logs", "error.log")
LOG_BAD = re.compile(r"\[(error|crit|alert|emerg)\]")


def log_size():
    try:
        return os.path.getsize(NGINX_LOG)
    except OSError:
        return 0


def log_problems(offset):
    """Lines at [error] or worse that nginx logged since offset."""
    try:
        with open(NGINX_LOG, errors="replace") as f:
            f.seek(offset)
            return [line.rstrip() for line in f if LOG_BAD.search(line)]
    except OSError:
        return []


def run_one(server_key, scenario, args):
    sc = SCENARIOS[scenario]
    log_at = log_size()
    conns = sc.get("connections", args.connections)
    if scenario == "sleep" and args.sleep_connections:
        conns = args.sleep_connections
    setup = Setup(server_key, scenario, args)
    if sc.get("websocket"):
        return run_ws(setup, server_key, scenario, args, conns, log_at)
    try:
        info = check_response(setup, scenario)
        url = f"http://127.0.0.1:{setup.port}{setup.path}"
        # No warm-up for sleep: the requests a warm-up leaves queued (256 x 10 ms
        # with one thread) would still hold the threads when the measure starts.
        if args.warmup > 0 and scenario != "sleep":
            wrk(url, conns, args.wrk_threads, args.warmup, sc.get("post"))
        pids = setup.pids()
        t0, m0, w0 = cpu_ticks(pids), machine_busy(), children_cpu()
        r = wrk(url, conns, args.wrk_threads, args.duration, sc.get("post"))
        t1, m1, w1 = cpu_ticks(pids), machine_busy(), children_cpu()
        rss = rss_kib(pids)
        for srv in setup.servers:
            if not srv.alive():
                raise RuntimeError(f"{srv.name} died during the run:\n{srv.log_tail()}")
    finally:
        setup.stop()
    bad = log_problems(log_at)
    if bad:
        info["log_errors"] = len(bad)
        info["log_first"] = re.sub(r"^\S+ \S+ ", "", bad[0])[:300]
    reqs = r["requests"]
    secs = r["duration_us"] / 1e6
    cpu_us = (t1 - t0) * 1e6 / CLK_TCK
    # what the rest of the machine (other work than the servers and wrk) used, in cores
    other = ((m1 - m0) - (t1 - t0)) / CLK_TCK - (w1 - w0)
    return dict(scenario=scenario, server=server_key, connections=conns,
                requests=reqs, rps=reqs / secs if secs else 0.0,
                p50_ms=r["p50_us"] / 1000, p99_ms=r["p99_us"] / 1000,
                errors=r["connect"] + r["read"] + r["write"] + r["timeout"],
                non2xx=r["status"], bytes_per_req=r["bytes"] / reqs if reqs else 0,
                rss_mib=rss / 1024, cpu_us_per_req=cpu_us / reqs if reqs else 0.0,
                processes=len(pids), other_cores=max(0.0, other / secs) if secs else 0.0,
                wrk_cores=(w1 - w0) / secs if secs else 0.0, **info)


def run_ws(setup, server_key, scenario, args, conns, log_at):
    """run_one for a WebSocket scenario: wsload.py instead of wrk, its
    warm-up within the same connections, the servers' CPU read at the
    beginning and the end of its measured window."""
    sc = SCENARIOS[scenario]
    marks = {}
    try:
        info = check_response(setup, scenario)
        pids = setup.pids()

        def mark(name):
            marks[name] = (cpu_ticks(pids), machine_busy(), time.time())

        r = wsload(setup.port, setup.path, conns, args.ws_clients, sc["websocket"], args.warmup,
                   args.duration, lambda: mark("start"), lambda: mark("end"))
        rss = rss_kib(pids)
        for srv in setup.servers:
            if not srv.alive():
                raise RuntimeError(f"{srv.name} died during the run:\n{srv.log_tail()}")
    finally:
        setup.stop()
    if "start" not in marks or "end" not in marks:
        raise RuntimeError("wsload reported no measured window")
    bad = log_problems(log_at)
    if bad:
        info["log_errors"] = len(bad)
        info["log_first"] = re.sub(r"^\S+ \S+ ", "", bad[0])[:300]
    if r["connected"] < conns:
        info["log_first"] = (info.get("log_first", "") + f"; only {r['connected']} of {conns} "
                             f"WebSockets opened: {r['first_error'].get('connect', '?')}").lstrip("; ")
    (t0, m0, _), (t1, m1, _) = marks["start"], marks["end"]
    msgs = r["messages"]
    secs = r["duration_us"] / 1e6
    cpu_us = (t1 - t0) * 1e6 / CLK_TCK
    other = ((m1 - m0) - (t1 - t0)) / CLK_TCK - r["client_cpu_s"]
    errors = sum(r["errors"].values())
    if errors:
        first = "; ".join(f"{k}: {v}" for k, v in r["first_error"].items())
        info["ws_errors"] = f"{r['errors']} (first: {first})"[:400]
    if r.get("unclean_closes"):
        info["ws_unclean"] = r["unclean_closes"]
    return dict(scenario=scenario, server=server_key, connections=conns,
                requests=msgs, rps=msgs / secs if secs else 0.0,
                p50_ms=r["p50_us"] / 1000, p99_ms=r["p99_us"] / 1000,
                errors=errors, non2xx=0, bytes_per_req=sc["websocket"],
                rss_mib=rss / 1024, cpu_us_per_req=cpu_us / msgs if msgs else 0.0,
                processes=len(pids), other_cores=max(0.0, other / secs) if secs else 0.0,
                wrk_cores=r["client_cores"], client_us_per_req=r["client_us_per_msg"],
                client=f"wsload, {r['processes']} process(es), {r['loop']}", **info)


# ---------------------------------------------------------------- setup checks

def nginx_t(conf_text, name):
    prefix = prepare_prefix(name)
    conf = os.path.join(prefix, "conf", "nginx.conf")
    with open(conf, "w") as f:
        f.write(conf_text)
    p = subprocess.run([NGINX, "-p", prefix, "-c", conf, "-t"], capture_output=True, text=True, timeout=60)
    return p.returncode == 0, (p.stderr + p.stdout).strip()


def directive_support(server_keys, args):
    """{directive: why} for the directives (SERVERS' needs) of server_keys that
    this build's nginx -t rejects, with the first line nginx said."""
    missing = {}
    probed = set()
    for k in server_keys:
        need = SERVERS[k].get("needs")
        if not need or need in probed:
            continue
        probed.add(need)
        scenario = next(s for s, sc in SCENARIOS.items() if k in sc["servers"])
        ok, msg = nginx_t(nginx_conf(k, scenario, os.path.join(RUN, "probe"), args), "probe")
        if not ok:
            first = next((line for line in msg.splitlines() if "emerg" in line),
                         msg.splitlines()[0] if msg else "")
            missing[need] = re.sub(r"^nginx: ", "", first)
    return missing


def make_file():
    os.makedirs(WWW, exist_ok=True)
    if not (os.path.exists(FILE) and os.path.getsize(FILE) == MIB):
        with open(FILE, "wb") as f:
            f.write(os.urandom(MIB))


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


# ---------------------------------------------------------------- summary

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec):
    return "—" if x is None else format(x, spec)


def summarize(runs, plan, skipped):
    """Medians per (scenario, server), with the ratios."""
    rows = []
    for scenario, servers in plan:
        by = {}
        for sk in servers:
            rs = [r for r in runs if r["scenario"] == scenario and r["server"] == sk]
            if sk in skipped:
                by[sk] = dict(scenario=scenario, server=sk, note=skipped[sk], n=0)
                continue
            if not rs:
                by[sk] = dict(scenario=scenario, server=sk, note="no successful run", n=0)
                continue
            ok = [r for r in rs if "failed" not in r]
            fails = [r["failed"] for r in rs if "failed" in r]
            row = dict(scenario=scenario, server=sk, n=len(ok),
                       rps=median([r["rps"] for r in ok]),
                       rps_min=min([r["rps"] for r in ok], default=None),
                       rps_max=max([r["rps"] for r in ok], default=None),
                       p50_ms=median([r["p50_ms"] for r in ok]),
                       p99_ms=median([r["p99_ms"] for r in ok]),
                       errors=sum(r["errors"] for r in ok),
                       non2xx=sum(r["non2xx"] for r in ok),
                       rss_mib=median([r["rss_mib"] for r in ok]),
                       cpu_us_per_req=median([r["cpu_us_per_req"] for r in ok]),
                       requests=sum(r["requests"] for r in ok),
                       client_cores=median([r.get("wrk_cores") for r in ok]),
                       client_us_per_msg=median([r.get("client_us_per_req") for r in ok]),
                       note="")
            if fails:
                row["note"] = f"{len(fails)} run(s) failed: {fails[0]}"
            logged = sum(r.get("log_errors", 0) for r in ok)
            if logged:
                first = next(r["log_first"] for r in ok if r.get("log_errors"))
                row["note"] = (row["note"] + "; " if row["note"] else "") + \
                    f"nginx logged {logged} line(s) at [error] or worse, first: {first}"
            fw = {r.get("file_wrapper") for r in ok if r.get("file_wrapper")}
            if scenario == "file" and SERVERS[sk]["kind"] not in ("static",) and fw == {"no"}:
                row["note"] = (row["note"] + "; " if row["note"] else "") + \
                    "no wsgi.file_wrapper: the app read the file in 64 KiB blocks"
            if scenario == "file" and fw == {"yes"}:
                row["file_wrapper"] = "yes"
            wserr = [r["ws_errors"] for r in ok if r.get("ws_errors")]
            if wserr:
                row["note"] = (row["note"] + "; " if row["note"] else "") + \
                    f"the WebSocket client counted errors in {len(wserr)} run(s), first: {wserr[0]}"
            unclean = sum(r.get("ws_unclean", 0) for r in ok)
            if unclean:
                row["note"] = (row["note"] + "; " if row["note"] else "") + \
                    f"{unclean} WebSocket(s) closed without the server's Close frame at the end"
            loops = sorted({r["loop"] for r in ok if r.get("loop")})
            if loops and loops != ["uvloop"]:
                row["note"] = (row["note"] + "; " if row["note"] else "") + \
                    f"the app ran on {' and '.join(loops)}'s event loop, not uvloop's"
            by[sk] = row
        sc = SCENARIOS[scenario]
        for sk in servers:
            row = by[sk]
            if row.get("rps") is None:
                row["x_ceiling"] = row["x_pass"] = None
            else:
                if sc["ceiling"]:
                    c = by.get(sc["ceiling"], {}).get("rps")
                elif scenario == "sleep":
                    n = SERVERS[sk].get("threads") or SERVERS[sk].get("uwsgi_threads") or 1
                    c = n * 100.0   # ideal: n threads, 10 ms each
                else:
                    c = None
                row["x_ceiling"] = row["rps"] / c if c else None
                ref = "pass-tcp" if SERVERS[sk].get("transport") == "tcp" else "pass-unix"
                if ref not in by:
                    ref = next((k for k in servers if SERVERS[k]["kind"] == "pass"), None)
                p = by.get(ref, {}).get("rps") if ref else None
                row["x_pass"] = row["rps"] / p if p else None
            rows.append(row)
    return rows


def table_lines(rows):
    head = ["scenario", "server", "req/s", "× ceiling", "× uwsgi_pass", "p50 ms", "p99 ms",
            "errors", "non-2xx", "RSS MiB", "CPU µs/req"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
    notes = []
    last = None
    for r in rows:
        scen = r["scenario"] if r["scenario"] != last else ""
        last = r["scenario"]
        label = SERVERS[r["server"]]["label"]
        if r.get("rps") is None:
            notes.append(f"{r['scenario']} / {label}: {r['note']}")
            lines.append(f"| {scen} | {label} | skipped¹ | | | | | | | | |")
            continue
        if r.get("note"):
            notes.append(f"{r['scenario']} / {label}: {r['note']}")
            label += " ¹"
        lines.append("| " + " | ".join([
            scen, label, fmt(r["rps"], ",.0f"), fmt(r["x_ceiling"], ".2f"), fmt(r["x_pass"], ".2f"),
            fmt(r["p50_ms"], ".2f"), fmt(r["p99_ms"], ".2f"), str(r["errors"]), str(r["non2xx"]),
            fmt(r["rss_mib"], ".1f"), fmt(r["cpu_us_per_req"], ".1f")]) + " |")
    return lines, notes


def pct(off):
    """A shortfall or an excess in percent: whole numbers, a decimal under 1 %."""
    return f"{off:.{0 if off >= 1 else 1}f}%"


def targets(rows):
    """(verdict, target, measured) lines. Every figure comes from the same run
    (the medians of its rounds): the servers are compared with each other as
    the machine was during that run, not with figures from another day."""
    get = {(r["scenario"], r["server"]): r for r in rows}
    out = []

    def unmeasured(name, *keys):
        """A SKIP line, and True, when a row the target needs has no figures."""
        for s, k in keys:
            r = get.get((s, k))
            if r is None:
                out.append(("SKIP", name, "not run"))
                return True
            if r.get("rps") is None:
                out.append(("SKIP", name, f"{SERVERS[k]['label']} not measured (see ¹)"))
                return True
        return False

    def cpu_pair(s, a, b):
        # the steadier measure on a shared machine: CPU per request (per message)
        per = "message" if SCENARIOS.get(s, {}).get("websocket") else "request"
        return f"server CPU/{per} {get[(s, a)]['cpu_us_per_req']:.1f} vs {get[(s, b)]['cpu_us_per_req']:.1f} µs"

    def ratio(name, s, a, b, want, field="rps", ge=True, unit="×", cpu=True):
        """a's field over b's (b: another server of scenario s, or a number)."""
        other = isinstance(b, str)
        if unmeasured(name, (s, a), *([(s, b)] if other else [])):
            return
        den = get[(s, b)][field] if other else b
        if not den:
            out.append(("SKIP", name, "nothing to compare with"))
            return
        x = get[(s, a)][field] / den
        ok = x >= want if ge else x <= want
        off = (1 - x / want) * 100 if ge else (x / want - 1) * 100
        miss = "" if ok else f", {'short' if ge else 'over'} by {pct(off)}"
        digits = 3 if f"{x:.2f}" == f"{want:.2f}" else 2
        extra = f"; {cpu_pair(s, a, b)}" if cpu and other else ""
        out.append(("PASS" if ok else "MISS", name, f"{x:.{digits}f}{unit}{miss}{extra}"))

    def rps_p99(name, s, a, b, want, p99_max):
        """a's req/s ≥ want × b's, and a's p99 ≤ p99_max × b's."""
        if unmeasured(name, (s, a), (s, b)):
            return
        ra, rb = get[(s, a)], get[(s, b)]
        x = ra["rps"] / rb["rps"]
        y = ra["p99_ms"] / rb["p99_ms"] if rb["p99_ms"] else float("inf")
        miss = ([f"req/s short by {pct((1 - x / want) * 100)}"] if x < want else []) + \
               ([f"p99 over by {pct((y / p99_max - 1) * 100)}"] if y > p99_max else [])
        out.append(("MISS" if miss else "PASS", name,
                    f"{x:.3f}× req/s, {y:.3f}× p99 ({ra['p99_ms']:.2f} vs {rb['p99_ms']:.2f} ms)"
                    + "".join(f", {m}" for m in miss)
                    + f"; CPU/request {ra['cpu_us_per_req'] / rb['cpu_us_per_req']:.2f}×"))

    def at_most_more(name, s, a, b, field, limit, unit):
        """a's field at most limit above b's (an absolute difference)."""
        if unmeasured(name, (s, a), (s, b)):
            return
        va, vb = get[(s, a)][field], get[(s, b)][field]
        d = va - vb
        out.append(("PASS" if d <= limit else "MISS", name,
                    f"{d:+.1f} {unit} ({va:.1f} vs {vb:.1f} {unit})"
                    + ("" if d <= limit else f", over by {d - limit:.1f} {unit}")))

    ratio("hello: wsgi_app ≥ 2× uwsgi_pass (unix)", "hello", "wsgi", "pass-unix", 2)
    ratio("hello: wsgi_app ≥ 0.5× nginx return 200", "hello", "wsgi", "return200", 0.5)
    ratio("hello: wsgi_app ≤ 1.5× the server CPU/request of nginx return 200", "hello", "wsgi", "return200",
          1.5, field="cpu_us_per_req", ge=False)
    ratio("hello: wsgi_app ≥ 1.3× Granian (8 threads each)", "hello", "wsgi", "granian", 1.3)
    ratio("hello: wsgi_app, wsgi_inline on ≥ 0.7× nginx return 200", "hello", "wsgi-inline", "return200", 0.7)
    at_most_more("hello: metrics on: at most 1 µs more server CPU per request than wsgi_app",
                 "hello", "wsgi-status", "wsgi", "cpu_us_per_req", 1.0, "µs")
    ratio("stream 1 MiB: wsgi_app ≥ 3× uwsgi_pass (unix)", "stream", "wsgi", "pass-unix", 3)
    ratio("file 1 MiB: wsgi_app ≥ 0.8× nginx static", "file", "wsgi", "static", 0.8)
    for n in (1, 16, 64):
        ratio(f"sleep 10 ms: wsgi_threads {n} ≥ 0.9 × {n}/10 ms = {90 * n:,} req/s",
              "sleep", f"wsgi-t{n}", n * 100.0, 0.9, unit="× ideal")
    ratio("post 1 MiB, client_body_buffer_size 2m: wsgi_app ≥ 0.9× nginx return 200 (reading and "
          "discarding the body)", "post", "wsgi", "return200", 0.9)
    ratio("post-default 1 MiB: wsgi_app (buffered) ≥ 2× uwsgi_pass (unix)", "post-default", "wsgi", "pass-unix", 2)
    rps_p99("post-default 1 MiB: wsgi_app, wsgi_request_buffering off ≥ 1.0× Granian req/s, p99 ≤ Granian's",
            "post-default", "wsgi-streaming", "granian", 1.0, 1.0)
    # ASGI. asgi-hello and asgi-ws-echo: the targets of the issue that asked
    # for asgi_app (ASGI inside nginx), each against another server of the
    # same run. hello: ≥ 1.2× Granian's ASGI req/s, the fastest standalone
    # ASGI server here, and ≥ 2× nginx → uvicorn, the deployment asgi_app
    # replaces (it pays nginx's HTTP and the app on uvloop, where that pays
    # nginx's HTTP, the proxying and uvicorn's own HTTP besides the same app).
    # WebSocket echo: messages/s at least Granian's (≥ 1.0×). The bench's own,
    # beyond the issue: asgi-json, FastAPI, where the app's work dominates:
    # asgi_app should at least not lose to the deployment it replaces
    # (≥ 1.0× nginx → uvicorn); asgi-stream, the same 3× over nginx → uvicorn
    # that wsgi_app's stream target asks over uwsgi_pass, for the same reason
    # (nginx proxies 1 MiB through its default 4k/8k buffers, asgi_app hands
    # the app's 64 KiB bytes to nginx by reference).
    ratio("asgi-hello: asgi_app ≥ 1.2× Granian --interface asgi", "asgi-hello", "asgi", "granian-asgi", 1.2)
    ratio("asgi-hello: asgi_app ≥ 2× proxy_pass → uvicorn", "asgi-hello", "asgi", "proxy-uvicorn", 2)
    ratio("asgi-ws-echo: asgi_app ≥ 1.0× Granian --interface asgi (messages/s)", "asgi-ws-echo", "asgi",
          "granian-asgi", 1.0)
    ratio("asgi-json (FastAPI): asgi_app ≥ 1.0× proxy_pass → uvicorn", "asgi-json", "asgi", "proxy-uvicorn", 1.0)
    ratio("asgi-stream 1 MiB: asgi_app ≥ 3× proxy_pass → uvicorn", "asgi-stream", "asgi", "proxy-uvicorn", 3)
    for s in SCENARIOS:
        for t in ("unix", "tcp"):
            if (s, f"upstream-{t}") in get and (s, f"pass-{t}") in get:
                rps_p99(f"{s}: uwsgi_upstream ≥ 0.97× uwsgi_pass ({t}) req/s, p99 ≤ 1.05×",
                        s, f"upstream-{t}", f"pass-{t}", 0.97, 1.05)
    ratio("memory: wsgi_app worker ≤ 0.6× RSS of nginx worker + uWSGI (hello)",
          "hello", "wsgi", "pass-unix", 0.6, field="rss_mib", ge=False, cpu=False)
    return out


def describe():
    """The code measured: commit (and whether the tree had changes), nginx, module hash."""
    def run(*argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=ROOT).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    commit = run("git", "rev-parse", "--short", "HEAD") or "unknown commit"
    dirty = run("git", "status", "--porcelain", "--untracked-files=no", "--", "src", "Cargo.toml", "Cargo.lock")
    nginx = run(NGINX, "-v") or subprocess.run([NGINX, "-v"], capture_output=True, text=True).stderr.strip()
    sha = run("sha256sum", MODULE).split()[0][:12] if os.path.exists(MODULE) else "?"
    uw = run("uwsgi", "--version")
    gr = run(venv_bin("granian"), "--version").replace("granian ", "") if os.path.exists(venv_bin("granian")) else ""
    # the venv's Python packages, as bench.sh pinned them
    py = run(venv_bin("python3"), "-c", "from importlib.metadata import version as v\n"
             "print(', '.join(n + ' ' + v(n) for n in ('uvicorn', 'uvloop', 'httptools', 'websockets', "
             "'FastAPI', "
             "'starlette', 'pydantic')))") if os.path.exists(venv_bin("python3")) else ""
    return (f"ngx-wsgi {commit}{' + uncommitted changes in src/' if dirty else ''} (module sha256 {sha}), "
            f"{nginx.replace('nginx version: ', '')}, uWSGI {uw or '?'}, Granian {gr or '?'}"
            f"{', ' + py if py else ''}, wrk {wrk_version()}")


def wrk_version():
    p = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    m = re.search(r"wrk (\S+)", p.stdout + p.stderr)
    return m.group(1) if m else "?"


def write_csv(path, rows, fields):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})


def chart(rows, path):
    """A PNG with gnuplot: one panel per scenario, median req/s per server
    (bars; the rounds' min-max as error bars), and one of the server CPU
    time per request of hello and asgi-hello."""
    if not shutil.which("gnuplot"):
        return "gnuplot is not installed: no chart"
    scen = []
    for r in rows:
        if r["scenario"] not in scen:
            scen.append(r["scenario"])
    data = os.path.join(RUN, "chart")
    os.makedirs(data, exist_ok=True)
    colors = {"wsgi": 0x2ca02c, "asgi": 0x2ca02c, "return": 0x8c8c8c, "static": 0x8c8c8c,
              "pass": 0x1f77b4, "proxy": 0x1f77b4, "upstream": 0xff7f0e}

    def label(r):
        # short enough for a tic label: the rotated names run off the panel's right edge
        text = SERVERS[r["server"]]["label"].replace("→", "->").replace(" (reference)", "")
        text = re.sub(r"^Granian --interface asgi, direct$", "Granian, ASGI", text)
        return re.sub(r"^Granian --blocking-threads (\d+), direct$", r"Granian, \1 threads", text)

    panels = []
    for s in scen:
        f = os.path.join(data, f"{s}.dat")
        with open(f, "w") as out:
            for i, r in enumerate([r for r in rows if r["scenario"] == s]):
                if r.get("rps") is None:
                    out.write(f'{i} NaN NaN 0 "{label(r)}" 0 "skipped"\n')
                    continue
                text = f'{r["rps"]:.0f}'
                if s == "sleep" and r.get("x_ceiling") is not None:
                    text += f' ({r["x_ceiling"]:.2f}x)'
                color = colors.get(SERVERS[r["server"]]["kind"], 0x9467bd)
                out.write(f'{i} {r["rps"]:.1f} {r["rps_min"]:.1f} {r["rps_max"]:.1f} '
                          f'"{label(r)}" {color} "{text}"\n')
        unit = "messages/s" if SCENARIOS.get(s, {}).get("websocket") else "req/s"
        title = f"{s}: {SCENARIO_TITLES[s]} - {unit}" + (
            " (log scale; in brackets: x the ideal threads / 10 ms)" if s == "sleep" else "")
        panels.append((title, f, s == "sleep"))
    for s in ("hello", "asgi-hello"):
        hello = [r for r in rows if r["scenario"] == s and r.get("cpu_us_per_req") is not None]
        if not hello:
            continue
        f = os.path.join(data, f"{s}-cpu.dat")
        with open(f, "w") as out:
            for i, r in enumerate(hello):
                color = colors.get(SERVERS[r["server"]]["kind"], 0x9467bd)
                c = r["cpu_us_per_req"]
                out.write(f'{i} {c:.2f} {c:.2f} {c:.2f} "{label(r)}" {color} "{c:.1f}"\n')
        panels.append((f"{s}: server CPU microseconds per request, lower is better (log scale)", f, True))
    n = len(panels)
    cols = 2 if n > 1 else 1
    nrows = (n + cols - 1) // cols
    gp = [f"set terminal pngcairo noenhanced size {cols * 900},{nrows * 430} font 'DejaVu Sans,10'",
          f"set output '{path}'",
          f"set multiplot layout {nrows},{cols} title 'ngx-wsgi benchmark: medians over the rounds "
          "(error bars: min-max)' font ',13'",
          "set style fill solid 0.8 border -1", "set boxwidth 0.6", "set grid ytics",
          "set xtics rotate by -20 left nomirror font ',9'", "set ytics nomirror",
          "set key off", "set format y '%.0f'", "set bmargin 6", "set rmargin 12", "set lmargin 8",
          "set offsets 0.5, 0.5, 0, 0"]
    for title, f, log in panels:
        title = title.replace("'", "''")   # gnuplot's escape within '...'
        gp += [f"set title '{title}'",
               "set logscale y; set yrange [1:*]" if log else "unset logscale y; set yrange [0:*]",
               f"plot '{f}' using 1:2:6:xtic(5) with boxes lc rgb variable, "
               f"'' using 1:2:3:4 with yerrorbars lc rgb 'black' pointsize 0, "
               f"'' using 1:4:7 with labels offset 0,0.8 font ',8'"]
    gp.append("unset multiplot")
    script = os.path.join(data, "chart.gp")
    with open(script, "w") as fh:
        fh.write("\n".join(gp) + "\n")
    p = subprocess.run(["gnuplot", script], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        return f"gnuplot failed: {p.stderr.strip()[:500]}"
    return None


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(prog="scripts/bench.sh", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5, help="seconds of load per run (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="seconds of unmeasured load first (default 1)")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections (default 64; sleep: 256)")
    ap.add_argument("--sleep-connections", type=int, default=0, help="wrk connections of sleep (default 256)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS),
                    help=f"comma-separated, from {', '.join(SCENARIOS)} (default all)")
    ap.add_argument("--servers", default="",
                    help=f"only these servers, comma-separated, from {', '.join(SERVERS)}")
    ap.add_argument("--no-reference", action="store_true",
                    help="leave out Granian, gunicorn and uvicorn (direct); bench.sh then makes no "
                         "build/bench/venv, without which asgi_app and nginx → uvicorn are skipped too")
    ap.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    ap.add_argument("--ws-clients", type=int, default=2,
                    help="asgi-ws-echo: wsload.py client processes, sharing the connections (default 2)")
    ap.add_argument("--wsgi-queue", type=int, default=1024, help="wsgi_queue (default 1024)")
    ap.add_argument("--report", action="store_true",
                    help="run nothing: print the table and redo the files from build/bench/runs.json")
    args = ap.parse_args()
    if args.report:
        with open(os.path.join(OUT, "runs.json")) as f:
            report(json.load(f))
        return

    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for s in scenarios:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s!r} (known: {', '.join(SCENARIOS)})")
    only = {s.strip() for s in args.servers.split(",") if s.strip()}
    for s in only:
        if s not in SERVERS:
            ap.error(f"unknown server {s!r} (known: {', '.join(SERVERS)})")
    if args.rounds < 1 or args.duration < 1 or args.ws_clients < 1:
        ap.error("--rounds, --duration and --ws-clients must be at least 1")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    os.makedirs(PIDS, exist_ok=True)
    os.makedirs(os.path.dirname(NGINX), exist_ok=True)
    for src, dst in ((BUILT_NGINX, NGINX), (BUILT_MODULE, MODULE)):
        shutil.copy2(src, dst + ".new")
        os.replace(dst + ".new", dst)
    make_file()
    busy = [p for p in (PORT_NGINX, PORT_UWSGI, PORT_GRANIAN, PORT_GUNICORN, PORT_UVICORN) if not port_free(p)]
    if busy:
        sys.exit(f"bench: ports {busy} are in use (a previous run still up?)")

    plan = []
    for s in scenarios:
        servers = [k for k in SCENARIOS[s]["servers"] if not only or k in only]
        if args.no_reference:
            servers = [k for k in servers if SERVERS[k]["kind"] not in REFERENCE_KINDS]
        if servers:
            plan.append((s, servers))

    # Rows this build or machine cannot run are skipped, with the reason in
    # the table, rather than failing the whole run.
    skipped = {}
    planned = [k for _, ks in plan for k in ks]
    for k in planned:
        venv = venv_needs(k)
        if venv and not os.access(venv, os.X_OK):
            skipped[k] = f"skipped: {venv} is not installed"
    missing = directive_support([k for k in planned if k not in skipped], args)
    for k in planned:
        need = SERVERS[k].get("needs")
        if k not in skipped and need in missing:
            skipped[k] = f"this build has no {need} (nginx -t: {missing[need]})"
    for k, why in skipped.items():
        log(f"bench: {SERVERS[k]['label']}: {why}")
    todo = [(s, k) for s, ks in plan for k in ks if k not in skipped]
    per_run = args.duration + args.warmup + 1.5
    log(f"bench: {len(todo)} runs x {args.rounds} rounds, about "
        f"{len(todo) * args.rounds * per_run / 60:.0f} min; logs in {RUN}")

    runs = []
    try:
        for rnd in range(1, args.rounds + 1):
            for i, (s, k) in enumerate(todo, 1):
                tag = f"[round {rnd}/{args.rounds}, {i}/{len(todo)}] {s} / {SERVERS[k]['label']}"
                try:
                    r = run_one(k, s, args)
                except (Stop, KeyboardInterrupt):
                    raise
                except Exception as e:
                    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                    log(f"{tag}: FAILED: {e}")
                    runs.append(dict(scenario=s, server=k, round=rnd, failed=msg))
                    continue
                r["round"] = rnd
                runs.append(r)
                unit = "msg" if SCENARIOS[s].get("websocket") else "req"
                client = (f"client {r['wrk_cores']:.2f} cores, {r['client_us_per_req']:.1f} µs/msg"
                          if "client_us_per_req" in r else f"wrk {r['wrk_cores']:.2f} cores")
                log(f"{tag}: {r['rps']:,.0f} {unit}/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
                    f"{r['cpu_us_per_req']:.1f} µs/{unit}, RSS {r['rss_mib']:.1f} MiB, "
                    f"errors {r['errors']}, non-2xx {r['non2xx']}; {client}, "
                    f"other work {r['other_cores']:.2f} cores"
                    + (f"; nginx logged {r['log_errors']} error(s): {r['log_first']}" if r.get("log_errors") else ""))
    except (Stop, KeyboardInterrupt) as e:
        log(f"bench: interrupted ({e}); servers stopped")
        sys.exit(130)

    meta = dict(runs=runs, plan=plan, skipped=skipped, describe=describe(),
                when=time.strftime("%Y-%m-%d %H:%M %Z"), cpus=os.cpu_count(),
                args=vars(args))
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "runs.json"), "w") as f:
        json.dump(meta, f, indent=1)
    report(meta)


def report(meta):
    """The table, the targets, the CSV files and the chart, from the runs."""
    runs, skipped, a = meta["runs"], meta["skipped"], meta["args"]
    plan = [(s, ks) for s, ks in meta["plan"]]
    rows = summarize(runs, plan, skipped)
    lines, notes = table_lines(rows)
    tg = targets(rows)
    text = [f"{meta['describe']}; {meta['when']}."]
    others = [r["other_cores"] for r in runs if "other_cores" in r]
    if others:
        text.append(f"Other work on the machine during the runs (CPU not used by the servers or wrk): "
                    f"median {statistics.median(others):.2f} cores, max {max(others):.2f}, "
                    f"of {meta['cpus']}.")
    text.append(f"wrk: {a['duration']} s per run after {a['warmup']} s warm-up, {a['connections']} connections "
                f"(sleep: {a['sleep_connections'] or 256}), {a['wrk_threads']} wrk thread(s), "
                f"{a['rounds']} interleaved round(s); medians over the rounds.")
    ws = [r for r in runs if "client_us_per_req" in r]
    if ws:
        text.append(f"asgi-ws-echo: wsload.py, {a.get('ws_clients', 2)} client process(es) sharing the "
                    f"{a['connections']} connections, {a['warmup']} s warm-up on the same connections; the client "
                    f"used {min(r['wrk_cores'] for r in ws):.2f}-{max(r['wrk_cores'] for r in ws):.2f} cores, "
                    f"{min(r['client_us_per_req'] for r in ws):.1f}-{max(r['client_us_per_req'] for r in ws):.1f} "
                    f"µs of CPU per message ({ws[0].get('client', 'wsload')}).")
    text.append("")
    text += lines
    text.append("")
    text.append("× ceiling: to nginx `return 200` (hello, asgi-hello, post, post-default: nginx reads and discards "
                "the body), to nginx serving the file statically (stream, file, asgi-stream), to the ideal "
                "threads / 10 ms (sleep); asgi-json has none. "
                "× uwsgi_pass: to stock uwsgi_pass over the same transport (unix for the others). "
                "errors: connect, read, write errors and timeouts; non-2xx: responses ≥ 400 (wrk's count). "
                "RSS: nginx worker(s) plus every application process, summed, after the run. "
                "CPU µs/req: utime+stime of the same processes during the run, per request. "
                "post: client_body_buffer_size 2m (nginx keeps the body in memory); post-default: nginx's "
                "default (8k: the body goes to a temp file before the app or uWSGI sees it; with "
                "wsgi_request_buffering off the app reads it as it arrives). "
                f"wsgi_app runs wsgi_threads {WSGI_THREADS_DEFAULT} (the default) unless said, "
                f"wsgi_queue {a['wsgi_queue']}; metrics on: the same plus a `location = /metrics {{ wsgi_status; }}`; "
                "uWSGI runs --master --processes 1 (one thread unless said); Granian runs --workers 1 and "
                "one runtime thread (its default), and calls the app on as many blocking threads as the row says "
                "(ASGI: one, the only count it takes). "
                "asgi-*: every server runs the same ASGI app (asgi-json: FastAPI) on uvloop (checked with one "
                "request before the load); asgi_app: nginx's one worker, asgi_loop auto, build/bench/venv through "
                "wsgi_python_home; uvicorn: --workers 1 --loop uvloop --http httptools --no-access-log; "
                "proxy_pass → uvicorn: the same uvicorn behind nginx, HTTP/1.1 with upstream keepalive "
                f"{a['connections']}, nginx's default proxy buffers; Granian: --interface asgi --loop auto. "
                "asgi-ws-echo: req/s are echoed messages per second (32-byte text, one in flight per "
                "connection), p50/p99 their round trip, CPU µs/req the server CPU per message, errors what the "
                "client counted (failed handshakes, lost or wrong echoes, closes); uvicorn --ws websockets-sansio, "
                "Granian with its WebSockets on, proxy_pass with Upgrade and Connection: upgrade passed on.")
    seen = set()
    for n in notes:
        if n.split(": ", 1)[1] not in seen:
            text.append(f"¹ {n}")
        seen.add(n.split(": ", 1)[1])
    text.append("")
    text.append("| target | measured | |")
    text.append("|---|---|---|")
    for verdict, name, measured in tg:
        text.append(f"| {name} | {measured} | **{verdict}** |")
    text = "\n".join(text)
    print(text)

    write_csv(os.path.join(OUT, "runs.csv"), runs,
              ["round", "scenario", "server", "connections", "requests", "rps", "p50_ms", "p99_ms",
               "errors", "non2xx", "bytes_per_req", "rss_mib", "cpu_us_per_req", "processes",
               "wrk_cores", "client_us_per_req", "other_cores", "file_wrapper", "loop", "log_errors", "log_first",
               "ws_errors", "ws_unclean", "failed"])
    write_csv(os.path.join(OUT, "results.csv"), rows,
              ["scenario", "server", "n", "rps", "rps_min", "rps_max", "x_ceiling", "x_pass",
               "p50_ms", "p99_ms", "errors", "non2xx", "rss_mib", "cpu_us_per_req", "requests",
               "client_cores", "client_us_per_msg", "note"])
    with open(os.path.join(OUT, "results.md"), "w") as f:
        f.write(text + "\n")
    err = chart(rows, os.path.join(OUT, "bench.png"))
    log(f"bench: wrote {OUT}/results.md, results.csv, runs.csv, runs.json"
        + (f"; {err}" if err else ", bench.png"))


if __name__ == "__main__":
    main()
