#!/usr/bin/env bash
# Where a forward-auth request's CPU goes: user and kernel time per request of three servers
# under the same wrk load (defaults: 2 threads, 10 connections, keep-alive, the cookie of
# bench/compare.sh), taking turns for several rounds so that load from elsewhere moves one
# run of each rather than one server's column:
#
# - `rewho serve` on compare.sh's cookie-only chain (auth_tkt, no I/O plugin), `REWHO_LOG=error`;
# - the hyper floor (host/examples/http_floor.rs): the same runtimes, answering 200 unread;
# - the parser floor (host/examples/parser_floor.rs): a bare httparse loop, no hyper.
#
# The server's CPU is read from /proc/PID/stat (utime, stime) before and after each run and
# divided by the requests wrk completed; wrk's own CPU is not counted. The difference between
# the two floors bounds what replacing hyper could save; the kernel column is the loopback TCP
# both sides pay. Set-up as bench/compare.sh (bench/lib.sh).
# Usage: bash bench/cpu_split.sh [ROUNDS, default 3] [SECONDS per run, default 5]
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$root"
rounds="${1:-3}"; dur="${2:-5}"
bench_setup

cookie="$(mint_cookie bench-secret-0123456789)"
write_tkt_ini "$work/tkt.ini"

start() { # name command... → sets url_<name> and pid_<name>
  start_listening "${@:2}"
  printf -v "pid_$1" '%s' "$started_pid"
  printf -v "url_$1" 'http://127.0.0.1:%s' "$started_port"
}
start rewho env REWHO_LOG=error "$rewho" serve --config "$work/tkt.ini" --listen
url_rewho+=/_rewho/auth
start hyper "$floor"
start parser "$parser_floor"
# The floors grant anything; rewho must grant the cookie.
expect_cookie_granted "$cookie" "$url_rewho" "$url_hyper" "$url_parser"

ticks() { # pid → utime stime (clock ticks); the fields after the parenthesised name
  sed 's/.*) //' "/proc/$1/stat" | awk '{print $12, $13}'
}

one_run() { # name → "name rps p99 user_us sys_us"
  local pid url u0 s0 u1 s1
  pid="pid_$1"; url="url_$1"
  read -r u0 s0 < <(ticks "${!pid}")
  wrk -d"${dur}s" --latency -H "Cookie: auth_tkt=\"$cookie\"" "${!url}" > "$work/wrk.txt"
  read -r u1 s1 < <(ticks "${!pid}")
  grep -q 'Requests/sec' "$work/wrk.txt" || { cat "$work/wrk.txt" >&2; exit 1; }
  awk -v name="$1" -v du=$((u1 - u0)) -v ds=$((s1 - s0)) -v hz="$(getconf CLK_TCK)" '
    /requests in/ {n = $1}
    /Requests\/sec/ {rps = $2}
    $1 == "99%" {p99 = $2}
    END {printf "%s %.0f %s %.2f %.2f\n", name, rps, p99, du / hz / n * 1e6, ds / hz / n * 1e6}
  ' "$work/wrk.txt"
}

echo "| round | server | req/s | p99 | user µs/req | kernel µs/req |"
echo "|---|---|---|---|---|---|"
for ((r = 1; r <= rounds; r++)); do
  for s in rewho hyper parser; do
    one_run "$s" | awk -v r="$r" '{printf "| %s | %s | %s | %s | %s | %s |\n", r, $1, $2, $3, $4, $5}'
  done
done
echo
echo "rewho: \`rewho serve\`, cookie-only chain; hyper: http_floor; parser: parser_floor"
machine_line
