# TAP for the shell suites (t/*.sh), which drive a whole nginx (a system
# one, or one from a config file of their own) where Test::Nginx's blocks
# would not fit; sourced by them. Each check prints "ok N - ..." or
# "not ok N - ..." with what was got; done_testing prints the plan and
# fails if any check did.

tap_count=0
tap_failed=0

# ok STATUS DESCRIPTION: passes when STATUS is 0
ok() {
    tap_count=$((tap_count + 1))
    if [ "$1" = 0 ]; then
        echo "ok $tap_count - $2"
    else
        echo "not ok $tap_count - $2"
        tap_failed=$((tap_failed + 1))
    fi
}

# check DESCRIPTION COMMAND...: passes when COMMAND succeeds
check() {
    local what=$1
    shift
    if "$@"; then ok 0 "$what"; else ok 1 "$what"; fi
}

# is GOT WANT DESCRIPTION
is() {
    ok "$([ "$1" = "$2" ]; echo $?)" "$3"
    if [ "$1" != "$2" ]; then
        printf '#   got:  %s\n#   want: %s\n' "$1" "$2"
    fi
}

# like GOT REGEX DESCRIPTION (an extended regular expression, grep -E)
like() {
    if printf '%s\n' "$1" | grep -Eq -- "$2"; then
        ok 0 "$3"
    else
        ok 1 "$3"
        printf '#   got:  %s\n#   want: /%s/\n' "$(printf '%s' "$1" | head -c 400)" "$2"
    fi
}

done_testing() {
    echo "1..$tap_count"
    if [ "$tap_failed" != 0 ]; then
        echo "# failed $tap_failed of $tap_count"
        return 1
    fi
}

# nginx_start PIDFILE NGINX ARGS...: starts NGINX (which daemonizes) and
# waits for its master to write PIDFILE.
nginx_start() {
    local pidfile=$1
    shift
    "$@" || return 1
    for _ in $(seq 100); do
        if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# nginx_stop PIDFILE: a graceful quit of the nginx whose master PIDFILE
# names, and waits for it to be gone (killed after 10 s).
nginx_stop() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    kill -QUIT "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    return 1
}

# workers_users PIDFILE: the users the master's children run as, one a line
workers_users() {
    ps -o user= --ppid "$(cat "$1")" | sort -u
}
