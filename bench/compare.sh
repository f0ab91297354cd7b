#!/usr/bin/env bash
# Side by side: Python repoze.who 3.1 and rewho on the same who.ini and the same requests, in
# one run on this machine, and prints Markdown tables of ratios (docs/PERFORMANCE.md).
#
# - In-process: one `api.authenticate()` (or challenge / remember) per request through
#   repoze.who's APIFactory (bench/python_inprocess.py) and through rewho's ApiFactory
#   (host/examples/inprocess_bench.rs), with rewho's plugins loaded from their `.so` files and,
#   for the cost of that boundary, the same plugin code linked statically.
# - Over HTTP: gunicorn (sync workers, one per core) serving repoze.who's middleware around a
#   tiny WSGI app (bench/wsgi_app.py) versus `rewho serve`'s forward-auth `GET /_rewho/auth`,
#   both driven by wrk at its default concurrency (2 threads, 10 connections).
#
# Set-up is automatic (see bench/lib.sh): apt-get for wrk/htpasswd when missing, a venv of its
# own in target/bench-venv, release builds. Usage: bash bench/compare.sh [--quick]
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$root"
quick=0; [ "${1:-}" = "--quick" ] && quick=1
bench_setup

htpasswd -bcs "$work/passwd.sha" alice secret >/dev/null 2>&1
htpasswd -bcB -C 10 "$work/passwd.bcrypt" alice secret >/dev/null 2>&1

write_ini() { # $1 file, $2 password file, $3 check_fn
  cat > "$1" <<INI
[plugin:auth_tkt]
use = repoze.who.plugins.auth_tkt:make_plugin
secret = bench-secret-0123456789
cookie_name = auth_tkt

[plugin:basicauth]
use = repoze.who.plugins.basicauth:make_plugin
realm = bench

[plugin:htpasswd]
use = repoze.who.plugins.htpasswd:make_plugin
filename = $2
check_fn = $3

[general]
request_classifier = repoze.who.classifiers:default_request_classifier
challenge_decider = repoze.who.classifiers:default_challenge_decider

[identifiers]
plugins = auth_tkt basicauth

[authenticators]
plugins = auth_tkt htpasswd

[challengers]
plugins = basicauth
INI
}
write_ini "$work/sha.ini" "$work/passwd.sha" "repoze.who.plugins.htpasswd:sha1_check"
write_ini "$work/bcrypt.ini" "$work/passwd.bcrypt" "repoze.who.plugins.htpasswd:crypt_check"
# The Python side differs in one line: repoze.who 3.1's own check functions cannot verify
# {SHA} or bcrypt entries on Python 3 (see bench/pychecks.py); rewho auto-detects formats.
sed 's/^check_fn = .*/check_fn = pychecks:sha1_check/' "$work/sha.ini" > "$work/sha.py.ini"
sed 's/^check_fn = .*/check_fn = pychecks:bcrypt_check/' "$work/bcrypt.ini" > "$work/bcrypt.py.ini"
write_tkt_ini "$work/tkt.ini"
cp "$work/tkt.ini" "$work/tkt.py.ini"

cookie="$(mint_cookie bench-secret-0123456789)"
basic="Basic $(printf 'alice:secret' | base64)"

# Each cell is the median of $rounds runs, the sides taking turns, so a burst of load from
# elsewhere on the machine moves one run of each side rather than a whole column.
n_py=3000; n_rs=300000; n_bc=20; dur=5; rounds=3
[ "$quick" = 1 ] && { n_py=500; n_rs=30000; n_bc=5; dur=3; rounds=1; }
row() { # name ini request-json py-iterations rs-iterations
  local p=() r=() s=() i
  for i in $(seq "$rounds"); do
    p+=("$("$py" bench/python_inprocess.py "${2%.ini}.py.ini" "$3" "$4")")
    r+=("$("$inproc" "$2" "$3" "$5")")
    s+=("$("$inproc" --static "$2" "$3" "$5")")
  done
  "$py" - "$1" "$rounds" "${p[@]}" "${r[@]}" "${s[@]}" <<'PY'
import json, statistics, sys
name, n = sys.argv[1], int(sys.argv[2])
runs = [json.loads(a) for a in sys.argv[3:]]
ps, rs, ss = runs[:n], runs[n:2 * n], runs[2 * n:]
def same(a, b):
    return str(a) == str(b) or (a in (None, False) and b in (None, False))
if not name.startswith(("challenge", "remember")):
    for p, r, s in zip(ps, rs, ss):
        assert same(p["userid"], r["userid"]) and same(r["userid"], s["userid"]), (p, r, s)
median = lambda xs: {"ns_per_op": statistics.median(x["ns_per_op"] for x in xs)}
p, r, s = median(ps), median(rs), median(ss)
us = lambda x: x["ns_per_op"] / 1000
print(f"| {name} | {us(p):.2f} µs | {us(r):.3f} µs | {us(s):.3f} µs "
      f"| {p['ns_per_op']/r['ns_per_op']:.0f}× | {r['ns_per_op']/s['ns_per_op']:.2f} |")
PY
}

tkt_req="{\"headers\":[[\"Cookie\",\"auth_tkt=\\\"$cookie\\\"\"]]}"
basic_req="{\"headers\":[[\"Authorization\",\"$basic\"]]}"
echo "## In-process (one call per request, same who.ini, same headers; median of $rounds runs)"
echo
echo "| operation | repoze.who 3.1 | rewho (.so plugins) | rewho (static) | repoze.who / rewho | .so / static |"
echo "|---|---|---|---|---|---|"
row "authenticate, valid auth_tkt cookie" "$work/sha.ini" "$tkt_req" $n_py $n_rs
row "authenticate, anonymous" "$work/sha.ini" '{"headers":[]}' $n_py $n_rs
row "authenticate, Basic + htpasswd {SHA}" "$work/sha.ini" "$basic_req" $n_py $n_rs
row "authenticate, Basic + htpasswd bcrypt (cost 10)" "$work/bcrypt.ini" "$basic_req" $n_bc $n_bc
row "challenge, anonymous" "$work/sha.ini" '{"headers":[],"op":"challenge"}' $n_py $n_rs
row "remember, valid auth_tkt cookie" "$work/sha.ini" "{\"headers\":[[\"Cookie\",\"auth_tkt=\\\"$cookie\\\"\"]],\"op\":\"remember\"}" $n_py $n_rs
echo

wrk_run() { # url header → "rps p99"
  local args=(-d"${dur}s" --latency)
  [ -n "$2" ] && args+=(-H "$2")
  wrk "${args[@]}" "$1" > "$work/wrk.txt"
  awk '/Requests\/sec/ {rps=$2} $1=="99%" {p99=$2} END {print rps, p99}' "$work/wrk.txt"
  grep -q 'Requests/sec' "$work/wrk.txt" || { cat "$work/wrk.txt" >&2; exit 1; }
}

start_pair() { # ini (without .ini): starts gunicorn and rewho serve on it
  pport="$(free_port)"
  (cd bench && REWHO_BENCH_WHO_INI="$1.py.ini" exec "$(dirname "$py")/gunicorn" \
    -w "$(nproc)" -b "127.0.0.1:$pport" --log-level error wsgi_app:app) &
  pids+=($!)
  rport="$(free_port)"
  REWHO_LOG=error "$rewho" serve --config "$1.ini" --listen "127.0.0.1:$rport" &
  pids+=($!)
  wait_port "$pport"
  wait_port "$rport"
  expect_cookie_granted "$cookie" "http://127.0.0.1:$pport/" "http://127.0.0.1:$rport/_rewho/auth"
}

stop_pair() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  pids=()
}

http_row() { # name header [url of the right-hand server, default rewho's forward-auth]
  # $rounds runs of each side, taking turns; each column is the median of its runs (req/s
  # and p99 separately), and the ratio is that of the two medians.
  local p=() r=() i
  for ((i = 0; i < rounds; i++)); do
    p+=("$(wrk_run "http://127.0.0.1:$pport/" "$2")")
    r+=("$(wrk_run "${3:-http://127.0.0.1:$rport/_rewho/auth}" "$2")")
  done
  "$py" - "$1" "$rounds" "${p[@]}" "${r[@]}" <<'PY'
import statistics, sys
name, n = sys.argv[1], int(sys.argv[2])
runs = [a.split() for a in sys.argv[3:]]
def ms(t):  # wrk's latency: 850.00us, 1.20ms, 1.01s
    for unit, scale in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if t.endswith(unit):
            return float(t[: -len(unit)]) * scale
    raise ValueError(t)
def side(rs):
    return statistics.median(float(r[0]) for r in rs), statistics.median(ms(r[1]) for r in rs)
(prps, pp99), (rrps, rp99) = side(runs[:n]), side(runs[n:])
print(f"| {name} | {prps:.0f} | {pp99:.2f}ms | {rrps:.0f} | {rp99:.2f}ms | {rrps / prps:.1f}× |")
PY
}

echo "## Over HTTP (wrk defaults: 2 threads, 10 connections; median of $rounds runs of ${dur}s per cell, the sides taking turns; same machine)"
echo
echo "| request | gunicorn ($(nproc) workers) + repoze.who, req/s | p99 | rewho serve /_rewho/auth, req/s | p99 | rewho / repoze.who |"
echo "|---|---|---|---|---|---|"
start_pair "$work/sha"
http_row "valid auth_tkt cookie (auth_tkt + htpasswd chain)" "Cookie: auth_tkt=\"$cookie\""
http_row "Basic + htpasswd {SHA}" "Authorization: $basic"
http_row "anonymous → 401 challenge" ""
stop_pair
start_pair "$work/tkt"
http_row "valid auth_tkt cookie (auth_tkt-only chain, no I/O plugin)" "Cookie: auth_tkt=\"$cookie\""
# The floor: a hyper server that answers 200 without looking at the request, on the same
# runtime and socket settings as `rewho serve`, against the same gunicorn cell. Its ratio is
# the most any server could reach here under this load tool.
start_listening "$floor"
http_row "floor: hyper answering 200 unread, no auth (vs the cookie-only gunicorn cell)" \
  "Cookie: auth_tkt=\"$cookie\"" "http://127.0.0.1:$started_port/"
# A lower floor: a bare httparse keep-alive loop (host/examples/parser_floor.rs), to show what
# replacing hyper on the forward-auth endpoint could buy at most.
start_listening "$parser_floor"
http_row "floor: bare httparse loop answering 200, no auth (vs the cookie-only gunicorn cell)" \
  "Cookie: auth_tkt=\"$cookie\"" "http://127.0.0.1:$started_port/"
stop_pair
echo
machine_line
