#!/usr/bin/env bash
# Side-by-side: Python repoze.who and rewho on the same who.ini and the same requests, in one
# run on this machine, in-process (API calls) and over HTTP (gunicorn + repoze.who middleware
# versus `rewho serve`'s forward-auth, both driven by wrk). Prints a Markdown table of ratios.
#
# Needs nothing installed by hand beyond what `.ci/install` sets up (Debian packages wrk and
# apache2-utils, the Python venv); this script adds gunicorn to the venv and builds rewho in
# release mode. Usage: bash bench/compare.sh [--quick]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
quick=0; [ "${1:-}" = "--quick" ] && quick=1

command -v wrk >/dev/null || { echo "wrk is missing: run bash .ci/install" >&2; exit 2; }
command -v htpasswd >/dev/null || { echo "htpasswd is missing: run bash .ci/install" >&2; exit 2; }
bash tests/python/setup-venv.sh >/dev/null
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
py="$root/.venv/bin/python"
cargo build --quiet --release --workspace
cargo build --quiet --release -p rewho --example inprocess_bench
rewho="$root/target/release/rewho"
inproc="$root/target/release/examples/inprocess_bench"

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

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
export PYTHONPATH="$root/bench${PYTHONPATH:+:$PYTHONPATH}"

cookie="$("$py" -c 'import repoze.who._auth_tkt as t; print(t.AuthTicket("bench-secret-0123456789","alice","0.0.0.0").cookie_value())')"
basic="Basic $(printf 'alice:secret' | base64)"

n_py=3000; n_rs=300000; n_bc_py=20; n_bc_rs=20; dur=10
[ "$quick" = 1 ] && { n_py=500; n_rs=30000; n_bc_py=5; n_bc_rs=5; dur=3; }

row() { # name ini request-json py-iterations rs-iterations
  local p r
  p="$("$py" bench/python_inprocess.py "${2%.ini}.py.ini" "$3" "$4")"
  r="$("$inproc" "$2" "$3" "$5")"
  "$py" - "$1" "$p" "$r" <<'PY'
import json, sys
name, p, r = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
assert str(p["userid"]) == str(r["userid"]) or (p["userid"] in (None, False) and r["userid"] in (None, False)) or name.startswith(("challenge", "remember")), (p, r)
print(f"| {name} | {p['ns_per_op']/1000:.2f} µs | {r['ns_per_op']/1000:.3f} µs | {p['ns_per_op']/r['ns_per_op']:.0f}× |")
PY
}

echo "## In-process (one call per request, same who.ini, same headers)"
echo
echo "| operation | repoze.who 3.1 | rewho | ratio |"
echo "|---|---|---|---|"
row "authenticate, valid auth_tkt cookie" "$work/sha.ini" "{\"headers\":[[\"Cookie\",\"auth_tkt=\\\"$cookie\\\"\"]]}" $n_py $n_rs
row "authenticate, anonymous" "$work/sha.ini" '{"headers":[]}' $n_py $n_rs
row "authenticate, Basic + htpasswd {SHA}" "$work/sha.ini" "{\"headers\":[[\"Authorization\",\"$basic\"]]}" $n_py $n_rs
row "authenticate, Basic + htpasswd bcrypt (cost 10)" "$work/bcrypt.ini" "{\"headers\":[[\"Authorization\",\"$basic\"]]}" $n_bc_py $n_bc_rs
row "challenge, anonymous" "$work/sha.ini" '{"headers":[],"op":"challenge"}' $n_py $n_rs
row "remember, valid auth_tkt cookie" "$work/sha.ini" "{\"headers\":[[\"Cookie\",\"auth_tkt=\\\"$cookie\\\"\"]],\"op\":\"remember\"}" $n_py $n_rs
echo

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }
wrk_line() { # url → "rps p99"
  wrk -t2 -c10 -d"${dur}s" --latency -H "Cookie: auth_tkt=\"$cookie\"" "$1" > "$work/wrk.txt"
  local rps p99
  rps="$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")"
  p99="$(awk '$1=="99%" {print $2}' "$work/wrk.txt")"
  echo "$rps $p99"
}

pport="$(free_port)"
(cd bench && REWHO_BENCH_WHO_INI="$work/sha.py.ini" exec "$root/.venv/bin/gunicorn" -w 2 -b "127.0.0.1:$pport" --log-level error wsgi_app:app) &
pids+=($!)
rport="$(free_port)"
REWHO_LOG=error "$rewho" serve --config "$work/sha.ini" --listen "127.0.0.1:$rport" &
pids+=($!)
wait_port "$pport"; wait_port "$rport"
read -r prps pp99 <<<"$(wrk_line "http://127.0.0.1:$pport/")"
read -r rrps rp99 <<<"$(wrk_line "http://127.0.0.1:$rport/_rewho/auth")"
echo "## Over HTTP (wrk -t2 -c10 -d${dur}s, valid auth_tkt cookie, same machine)"
echo
echo "| server | requests/s | p99 |"
echo "|---|---|---|"
echo "| gunicorn (2 workers) + repoze.who middleware | $prps | $pp99 |"
echo "| rewho serve, /_rewho/auth | $rrps | $rp99 |"
"$py" -c "print(f'\nratio: {float(\"$rrps\")/float(\"$prps\"):.1f}× the requests per second')"
echo
echo "machine: $(nproc) cores, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
