#!/usr/bin/env bash
# Memory of `rewho serve` (release) with every bundled plugin configured: auth_tkt,
# basicauth, htpasswd, memcached (caching htpasswd), redirector, metadata_cache (Redis),
# header, redis_session, jwt and creds, against a real memcached and Redis started here.
#
# Prints the resident set size right after start-up, then every `step` seconds of a wrk load
# run (a mix of valid auth_tkt cookies for 200 users, Basic logins of 200 users through the
# memcached-cached htpasswd, trusted SSO headers and anonymous requests), the peak (VmHWM) and
# the growth between the end of the warm-up (the first quarter of the run) and the end.
#
# Set-up as bench/compare.sh (bench/lib.sh); memcached and redis-server come from
# `.ci/install`. Usage: bash bench/memory.sh [SECONDS]   (default 120; step = SECONDS/12)
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$root"
duration="${1:-120}"
step=$((duration / 12)); [ "$step" -lt 1 ] && step=1
for tool in memcached redis-server; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: run bash .ci/install" >&2; exit 2; }
done
bench_setup

mport="$(free_port)"
as_root=(); [ "$(id -u)" -eq 0 ] && as_root=(-u root)
memcached -l 127.0.0.1 -p "$mport" -U 0 -m 64 "${as_root[@]}" &
pids+=($!)
rport="$(free_port)"
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning \
  >"$work/redis.log" &
pids+=($!)
wait_port "$mport"
wait_port "$rport"

users=200
"$py" - "$work/passwd" "$users" <<'PY'
import base64, hashlib, sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        digest = base64.b64encode(hashlib.sha1(f"pw{i}".encode()).digest()).decode()
        f.write(f"user{i}:{{SHA}}{digest}\n")
PY
mkdir -m 700 "$work/creds"
secret=bench-secret-0123456789
cat > "$work/who.ini" <<INI
[general]
request_classifier = accept_request_classifier
challenge_decider = default_challenge_decider

[plugin:auth_tkt]
use = auth_tkt
secret = $secret
[plugin:basicauth]
use = basicauth
realm = bench
[plugin:htpasswd]
use = htpasswd
filename = $work/passwd
[plugin:cached]
use = memcached
memcached_urls = 127.0.0.1:$mport
authenticator_name = htpasswd
secret = bench-cache-secret-0123456789
[plugin:redirector]
use = redirector
login_url = /_rewho/login
[plugin:attributes]
use = metadata_cache
backend = redis
redis_url = redis://127.0.0.1:$rport/0
[plugin:sso]
use = header
user_header = X-Forwarded-User
trusted_proxies = 127.0.0.1/32
[plugin:session]
use = redis_session
secret_key = bench-session-secret
redis_url = redis://127.0.0.1:$rport/0
[plugin:jwt]
use = jwt
secret = bench-jwt-secret
[plugin:creds]
use = creds
credsdir = $work/creds

[identifiers]
plugins = sso auth_tkt basicauth session attributes
[authenticators]
plugins = sso auth_tkt cached creds jwt
[challengers]
plugins = redirector;browser basicauth
[mdproviders]
plugins = attributes
INI

# The request mix, as a wrk Lua script cycling through prepared header sets.
"$py" - "$work/mix.lua" "$secret" "$users" <<'PY'
import base64, sys
import repoze.who._auth_tkt as t
path, secret, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sets = []
for i in range(n):
    sets.append({"Cookie": 'auth_tkt="%s"' % t.AuthTicket(secret, f"user{i}", "0.0.0.0").cookie_value()})
    sets.append({"Authorization": "Basic " + base64.b64encode(f"user{i}:pw{i}".encode()).decode()})
    sets.append({"X-Forwarded-User": f"sso{i}"})
    sets.append({})
def lua(d):
    return "{" + ", ".join(f'["{k}"] = [=[{v}]=]' for k, v in d.items()) + "}"
with open(path, "w") as f:
    f.write("local sets = {\n" + ",\n".join(lua(s) for s in sets) + "\n}\n")
    f.write("local i = 0\n")
    f.write("request = function()\n  i = i % #sets + 1\n"
            "  return wrk.format('GET', '/_rewho/auth', sets[i])\nend\n")
PY

port="$(free_port)"
REWHO_LOG=error "$rewho" serve --config "$work/who.ini" --listen "127.0.0.1:$port" &
server=$!
pids+=("$server")
wait_port "$port"
# Every identifier and authenticator answers as expected before measuring.
check() { # expected-status header...
  local args=() h
  for h in "${@:2}"; do args+=(-H "$h"); done
  local got
  got="$(curl -s -o /dev/null -w '%{http_code}' "${args[@]}" "http://127.0.0.1:$port/_rewho/auth")"
  [ "$got" = "$1" ] || { echo "sanity check failed: ${*:2} → $got, want $1" >&2; exit 1; }
}
check 200 "Cookie: auth_tkt=\"$(mint_cookie "$secret" user1)\""
check 200 "Authorization: Basic $(printf 'user2:pw2' | base64)"
check 200 "X-Forwarded-User: sso3"
check 401

kib() { awk -v k="$1" '$1==k":" {print $2}' "/proc/$server/status"; }
echo "## Memory of rewho serve, every bundled plugin, ${duration}s of wrk (defaults: 2 threads, 10 connections)"
echo
echo "| time | RSS | threads |"
echo "|---|---|---|"
echo "| after start-up, idle | $(($(kib VmRSS) / 1024)) MiB ($(kib VmRSS) KiB) | $(kib Threads) |"
wrk -d"${duration}s" -s "$work/mix.lua" "http://127.0.0.1:$port/" > "$work/wrk.txt" &
load=$!
pids+=("$load")
# Warm-up: connections, tokio's blocking threads (the chain does I/O), caches and allocator
# pages settle in the first quarter; growth is measured from there.
t=0
warm=""
while kill -0 "$load" 2>/dev/null && [ $((t + step)) -lt "$duration" ]; do
  sleep "$step"
  t=$((t + step))
  rss="$(kib VmRSS)"
  [ -z "$warm" ] && [ "$t" -ge $((duration / 4)) ] && { warm="$rss"; warm_t="$t"; }
  echo "| ${t}s under load | $((rss / 1024)) MiB ($rss KiB) | $(kib Threads) |"
done
wait "$load" || true
last="$(kib VmRSS)"
peak="$(kib VmHWM)"
echo "| after the run | $((last / 1024)) MiB ($last KiB) | $(kib Threads) |"
echo
requests="$(awk '/requests in/ {print $1}' "$work/wrk.txt")"
rps="$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")"
errors="$(awk '/Socket errors|Non-2xx/ {print}' "$work/wrk.txt" | tr '\n' ' ')"
echo "requests: $requests ($rps/s); ${errors:-no socket errors}"
echo "peak RSS (VmHWM): $((peak / 1024)) MiB ($peak KiB); growth from ${warm_t}s to the end: $((last - warm)) KiB"
machine_line
