#!/usr/bin/env bash
# Installs the Debian packages ngx-wsgi needs that are missing, as root.
#   scripts/deps.sh          build and test dependencies
#   scripts/deps.sh --build  only what building the module needs
set -euo pipefail

build=(gcc make pkg-config libpcre2-dev libclang-dev libssl-dev zlib1g-dev python3 python3-dev)
# Tests: Test::Nginx's dependencies (it is not packaged, t/lib carries a
# compatible subset), Debian's nginx for the stock-build test, uWSGI for the
# side-by-side tests, a venv-capable Python for wsgi_python_home,
# dpkg-shlibdeps for scripts/package.sh, and ps for the shell suites.
tests=(curl python3-venv nginx nginx-dev uwsgi uwsgi-plugin-python3
       libtest-base-perl libtext-diff-perl libtest-longstring-perl libipc-run-perl
       liblist-moreutils-perl libwww-perl liburi-perl dpkg-dev procps)

want=("${build[@]}")
[ "${1:-}" = --build ] || want+=("${tests[@]}")

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "deps.sh: missing packages: ${missing[*]}; run as root or install them" >&2
        exit 1
    fi
    echo "deps.sh: installing ${missing[*]}"
    apt-get update -qq
    # Debian starts nginx and uWSGI services on install; these tests run
    # their own, so keep the packages from starting anything.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
    echo "deps.sh: cargo (Rust 1.85 or newer) is required and not on PATH" >&2
    exit 1
fi
