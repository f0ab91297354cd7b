#!/usr/bin/env bash
# The cost of `[general] call_timeout` on an I/O chain (basicauth + htpasswd, which declares
# DOES_IO, so every request runs on the blocking pool): `rewho serve` forward-auth driven by
# wrk, with the deadline off and on, alternating runs. Prints requests/s and latency.
#
# Usage: bash bench/call_timeout.sh [--debug] [SECONDS]
#   --debug  use target/debug/rewho (no release build; numbers only good for a ratio)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
profile=release
[ "${1:-}" = "--debug" ] && { profile=debug; shift; }
secs="${1:-5}"
command -v wrk >/dev/null || { echo "wrk is missing: run bash .ci/install" >&2; exit 2; }
command -v htpasswd >/dev/null || { echo "htpasswd is missing: run bash .ci/install" >&2; exit 2; }
if [ "$profile" = release ]; then
  cargo build --quiet --release -p rewho -p rewho-plugin-basicauth -p rewho-plugin-htpasswd
fi
rewho="$root/target/$profile/rewho"

work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
htpasswd -bcs "$work/passwd" alice secret >/dev/null 2>&1

run() { # $1 = call_timeout value
  cat >"$work/who.ini" <<EOF
[general]
call_timeout = $1
plugin_path = $root/target/$profile
[plugin:basicauth]
use = basicauth
[plugin:htpasswd]
use = htpasswd
filename = $work/passwd
[identifiers]
plugins = basicauth
[authenticators]
plugins = htpasswd
[challengers]
plugins = basicauth
EOF
  REWHO_LOG=warn "$rewho" serve --config "$work/who.ini" --listen 127.0.0.1:0 2>"$work/log" &
  pid=$!
  local addr=""
  for _ in $(seq 100); do
    addr="$(sed -n 's|^rewho: listening on http://||p' "$work/log" | head -1)"
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { cat "$work/log" >&2; exit 1; }
  local out
  out="$(wrk -t1 -c8 -d"${secs}s" -H 'Authorization: Basic YWxpY2U6c2VjcmV0' \
    "http://$addr/_rewho/auth")"
  printf '%-14s %10s req/s   latency avg %s\n' "call_timeout=$1" \
    "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '/Latency/ {print $2}' <<<"$out")"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

echo "profile $profile, ${secs}s per run, wrk -t1 -c8, GET /_rewho/auth (Basic, htpasswd sha1)"
for _ in 1 2; do run off; run 10; done
