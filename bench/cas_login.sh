#!/usr/bin/env bash
# What a CAS login costs end to end (cold), and what a remembered request costs afterwards.
#
#   bash bench/cas_login.sh            # N=20 logins, then wrk for 5 s on one remembered cookie
#   PROFILE=debug N=5 bash bench/cas_login.sh
#
# Runs the test CAS server of tests/cas/ (django-mama-cas on Django's development server,
# from the venv of tests/python/setup-venv.sh) and `rewho serve` with seed 001's who.ini
# (tests/cas, host/tests/sso_cas.rs) on free loopback ports. Each login is a fresh curl cookie
# jar: the challenge, CAS's login form, the credentials post, the ticket request (rewho
# validates the ticket with CAS and redirects with the cookie). The remembered request is
# forward-auth (`GET /_rewho/auth`) with the auth_tkt cookie: auth_tkt plus the
# metadata_cache replay of the attributes. Needs curl and wrk, and release (or PROFILE)
# builds of rewho, rewho-plugin-cas, -auth_tkt and -metadata_cache.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
profile="${PROFILE:-release}"
n="${N:-20}"
rewho="$root/target/$profile/rewho"
py="${REWHO_PYTHON:-$root/.venv/bin/python}"
for f in "$rewho" "$root/target/$profile/librewho_plugin_cas.so" "$py"; do
  [ -e "$f" ] || { echo "missing $f (cargo build --$profile -p rewho -p rewho-plugin-cas ..., tests/python/setup-venv.sh)" >&2; exit 2; }
done
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 300); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
now_us() { echo $(( $(date +%s%N) / 1000 )); }

cas_port="$(free_port)"
"$py" "$root/tests/cas/run.py" "$cas_port" "$work/cas.sqlite3" >"$work/cas.log" 2>&1 &
pids+=($!)
wait_port "$cas_port"

cat >"$work/who.ini" <<EOF
[plugin:casauth]
use = repoze.who.plugins.cas.main_plugin:make_plugin
cas_url = http://127.0.0.1:$cas_port/cas/
cas_version = 3.0
attributes_name = attributes
rememberer_name = auth_tkt

[plugin:metadata_cache]
use = repoze.who.plugins.metadata_cache.memory:make_plugin
name = attributes

[plugin:auth_tkt]
use = repoze.who.plugins.auth_tkt:make_plugin
secret = bench-secret

[identifiers]
plugins =
    casauth
    auth_tkt

[authenticators]
plugins =
    casauth
    auth_tkt

[challengers]
plugins =
    casauth

[mdproviders]
plugins =
    metadata_cache
EOF
rw_port="$(free_port)"
REWHO_LOG=info "$rewho" serve --config "$work/who.ini" --listen "127.0.0.1:$rw_port" 2>"$work/rewho.log" &
pids+=($!)
wait_port "$rw_port"
base="http://127.0.0.1:$rw_port"

totals=() tickets=()
for i in $(seq 1 "$n"); do
  jar="$work/jar$i"
  t0="$(now_us)"
  login="$(curl -s -o /dev/null -w '%{redirect_url}' -c "$jar" -b "$jar" -H 'Accept: text/html' "$base/page?i=$i")"
  token="$(curl -s -c "$jar" -b "$jar" "$login" | grep -o 'name="csrfmiddlewaretoken" value="[^"]*"' | sed 's/.*value="//; s/"$//')"
  back="$(curl -s -o /dev/null -w '%{redirect_url}' -c "$jar" -b "$jar" \
    --data-urlencode "csrfmiddlewaretoken=$token" --data-urlencode username=alice \
    --data-urlencode password=wonderland "$login")"
  case "$back" in *ticket=ST-*) ;; *) echo "no ticket from CAS: $back" >&2; cat "$work/cas.log" >&2; exit 1 ;; esac
  t3="$(now_us)"
  landed="$(curl -s -o /dev/null -w '%{redirect_url}' -c "$jar" -b "$jar" "$back")"
  t4="$(now_us)"
  [ "$landed" = "$base/page?i=$i" ] || { echo "landed on $landed" >&2; exit 1; }
  grep -q auth_tkt "$jar" || { echo "no auth_tkt cookie" >&2; exit 1; }
  totals+=($((t4 - t0)))
  tickets+=($((t4 - t3)))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "CAS 3.0 logins: $n, each cold (new cookie jar, new CAS session)"
echo "  whole login (4 requests: challenge, CAS form, CAS post, ticket): median $(median "${totals[@]}") us"
echo "  the ticket request alone (rewho validates with CAS, redirects with the cookie): median $(median "${tickets[@]}") us"

# rewho's own share of the ticket request (validation round trip to CAS included), from its
# access log: the requests it answered itself with the redirect.
inside=($(grep -a 'outcome="responded"' "$work/rewho.log" | sed -n 's/.*micros=\([0-9]*\).*/\1/p'))
[ "${#inside[@]}" -gt 0 ] && echo "  inside rewho, ticket request (access log micros): median $(median "${inside[@]}") us"

cookie="$(awk '$6 == "auth_tkt" {print $7; exit}' "$work/jar$n")"
echo "remembered request: forward-auth with the auth_tkt cookie, metadata_cache replaying the attributes"
wrk -t1 -c1 -d5s --latency -H "Cookie: auth_tkt=$cookie" -H "X-Original-URI: /page" \
  "$base/_rewho/auth" | sed -n '/Latency/p;/50%/p;/99%/p;/Requests\/sec/p;/Non-2xx/p'
