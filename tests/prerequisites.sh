#!/usr/bin/env bash
# What the test suite needs from the machine, checked before any test runs.
#
#   tests/prerequisites.sh browser    Chromium and ChromeDriver (the admin's browser tests),
#                                     curl and jq (the docs' examples)
#   tests/prerequisites.sh services   PostgreSQL at $DATABASE_URL and Redis at $CACHE_URL
#
# What is missing is installed from Debian's packages and local services are started, where this
# machine allows it (apt-get, running as root); elsewhere the script stops with one line saying
# what to install or set. `make test`, `make test-reliability` and CI all call it.
set -euo pipefail

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}

say() { echo "prerequisites: $*" >&2; }
fail() {
    say "$*"
    exit 1
}

can_install() { command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; }

apt_updated=0
apt_install() {
    say "installing $* from Debian's packages (once)"
    export DEBIAN_FRONTEND=noninteractive
    if [ "$apt_updated" = 0 ]; then
        apt-get update -qq >/dev/null || return 1
        apt_updated=1
    fi
    apt-get install -y -qq "$@" >/dev/null
}

# `ensure WHAT ELSEWHERE PACKAGES -- CHECK...`: each CHECK is a file that must be executable or
# a command; ELSEWHERE says what to do off Debian.
ensure() {
    local what=$1 elsewhere=$2 packages=() missing=() check
    shift 2
    while [ "$1" != -- ]; do packages+=("$1"); shift; done
    shift
    for check in "$@"; do
        if [[ $check == /* ]]; then [ -x "$check" ] || missing+=("$check")
        else command -v "$check" >/dev/null 2>&1 || missing+=("$check"); fi
    done
    [ ${#missing[@]} = 0 ] && return 0
    if can_install && apt_install "${packages[@]}"; then
        for check in "${missing[@]}"; do
            [[ $check == /* ]] && [ -x "$check" ] && continue
            command -v "$check" >/dev/null 2>&1 || fail "$what: $check is still missing after installing ${packages[*]}"
        done
        return 0
    fi
    fail "$what need ${missing[*]}: install them with 'sudo apt-get install -y ${packages[*]}'$elsewhere, then run the command again"
}

browser() {
    ensure "the admin's browser tests" \
        " (elsewhere, set CHROMIUM and CHROMEDRIVER to a Chromium and its ChromeDriver)" \
        chromium chromium-driver -- "$CHROMIUM" "$CHROMEDRIVER"
    ensure "the docs' examples" "" curl jq -- curl jq
}

# host and port of a URL, "host port" (the scheme's default port when it names none).
host_port() {
    python3 - "$1" "$2" <<'EOF'
import sys
from urllib.parse import urlsplit

url = urlsplit(sys.argv[1])
print(url.hostname or "127.0.0.1", url.port or sys.argv[2])
EOF
}

reachable() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

wait_for() {
    for _ in $(seq 30); do reachable "$1" "$2" && return 0; sleep 1; done
    return 1
}

is_local() { [ "$1" = 127.0.0.1 ] || [ "$1" = localhost ] || [ "$1" = ::1 ]; }

postgres() {
    local host port
    read -r host port < <(host_port "$DATABASE_URL" 5432)
    reachable "$host" "$port" && return 0
    local hint="PostgreSQL is not reachable at $host:$port: start it, or set DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DB"
    is_local "$host" && can_install || fail "$hint"
    command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql || fail "$hint"
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | tail -n 1)" main start || true
    wait_for "$host" "$port" || fail "$hint"
    # A freshly installed server asks TCP clients for a password: give the URL's one.
    python3 - "$DATABASE_URL" <<'EOF' | su postgres -c "psql -q" >/dev/null 2>&1 || true
import sys
from urllib.parse import unquote, urlsplit

url = urlsplit(sys.argv[1])
if url.username and url.password:
    user, password = unquote(url.username), unquote(url.password).replace("'", "''")
    print(f"""ALTER USER "{user}" PASSWORD '{password}';""")
EOF
}

redis() {
    local host port
    read -r host port < <(host_port "$CACHE_URL" 6379)
    reachable "$host" "$port" && return 0
    local hint="Redis is not reachable at $host:$port: start it, or set CACHE_URL=redis://HOST:PORT/DB"
    is_local "$host" && can_install || fail "$hint"
    command -v redis-server >/dev/null 2>&1 || apt_install redis-server || fail "$hint"
    say "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/scaiflow-tests.log >/dev/null
    wait_for "$host" "$port" || fail "$hint"
}

services() {
    : "${DATABASE_URL:?set DATABASE_URL to the PostgreSQL the tests may use}"
    : "${CACHE_URL:?set CACHE_URL to the Redis the tests may use}"
    postgres
    redis
}

[ $# -gt 0 ] || fail "usage: tests/prerequisites.sh browser|services ..."
for need in "$@"; do
    case $need in
        browser | services) "$need" ;;
        *) fail "unknown prerequisite '$need' (browser, services)" ;;
    esac
done
