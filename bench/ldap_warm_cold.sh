#!/usr/bin/env bash
# Warm vs cold LDAP logins through `rewho serve` (seed 000's deployment): N sequential
# forward-auth requests with Basic credentials, answered
#   cold: by the `ldap` authenticator alone (every request binds to slapd), and
#   warm: by `memcached` wrapping it (the first request fills the cache, the rest are hits).
# Starts its own slapd (the test directory's config, one user) and memcached on free
# loopback ports; needs slapd, ldap-utils, memcached, apache2-utils (ab), and the plugins
# built: `cargo build -p rewho -p rewho-plugin-ldap -p rewho-plugin-memcached
# -p rewho-plugin-basicauth` (PROFILE=release for release builds).
#
#   bash bench/ldap_warm_cold.sh [N]      # default N = 2000
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-2000}"
profile="${PROFILE:-debug}"
rewho="$root/target/$profile/rewho"
plugins="$root/target/$profile"
for f in "$rewho" "$plugins/librewho_plugin_ldap.so" "$plugins/librewho_plugin_memcached.so"; do
  [ -e "$f" ] || { echo "missing $f: build it first (see the header)" >&2; exit 2; }
done
for b in /usr/sbin/slapd /usr/bin/ldapadd /usr/bin/memcached /usr/bin/ab; do
  [ -x "$b" ] || { echo "missing $b: bash .ci/install" >&2; exit 2; }
done

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() { # port [log]
  for _ in $(seq 1 400); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on $1" >&2
  [ -n "${2:-}" ] && cat "$2" >&2
  exit 1
}

# slapd with one user.
lport="$(free_port)"
mkdir "$work/db"
cat >"$work/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile $work/slapd.pid
database mdb
maxsize 10485760
suffix "dc=example,dc=org"
rootdn "cn=admin,dc=example,dc=org"
rootpw admin-secret
directory $work/db
EOF
/usr/sbin/slapd -f "$work/slapd.conf" -h "ldap://127.0.0.1:$lport/" -d 0 >"$work/slapd.log" 2>&1 &
slapd_pid=$!
pids+=("$slapd_pid")
wait_port "$lport" "$work/slapd.log"
ldapadd -x -H "ldap://127.0.0.1:$lport" -D cn=admin,dc=example,dc=org -w admin-secret >/dev/null <<EOF
dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: uid=alice,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
cn: Alice
sn: Liddell
userPassword: alice-pw
EOF

mport="$(free_port)"
as_root=()
[ "$(id -u)" = 0 ] && as_root=(-u root) # memcached refuses to run as root without it
/usr/bin/memcached "${as_root[@]}" -l 127.0.0.1 -p "$mport" -U 0 >"$work/memcached.log" 2>&1 &
pids+=($!)
wait_port "$mport" "$work/memcached.log"

ldap_section="[plugin:ldap]
use = ldap
url = ldap://127.0.0.1:$lport
base_dn = ou=people,dc=example,dc=org
returned_id = login"
common="[general]
plugin_path = $plugins

[plugin:basic]
use = basicauth

$ldap_section

[identifiers]
plugins = basic"

cat >"$work/cold.ini" <<EOF
$common
[authenticators]
plugins = ldap
EOF
cat >"$work/warm.ini" <<EOF
$common

[plugin:cached_ldap]
use = repoze.who.plugins.memcached
memcached_urls = 127.0.0.1:$mport
authenticator_name = ldap
secret = bench secret
ttl = 600

[authenticators]
plugins = cached_ldap ldap;unused
EOF

# slapd's CPU time so far (user + system), in milliseconds: the load on the directory.
slapd_cpu_ms() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print int(($12 + $13) * 1000 / hz) }' \
    "/proc/$slapd_pid/stat"
}

run() { # name ini
  local port
  port="$(free_port)"
  "$rewho" serve --config "$2" --listen "127.0.0.1:$port" >"$work/$1.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  wait_port "$port" "$work/$1.log"
  local url="http://127.0.0.1:$port/_rewho/auth"
  # One login first: checks the answer (and fills the cache for the warm run).
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' -u alice:alice-pw "$url")"
  [ "$code" = 200 ] || { echo "$1: login answered $code" >&2; cat "$work/$1.log" >&2; exit 1; }
  local out cpu_before cpu_after
  cpu_before="$(slapd_cpu_ms)"
  out="$(ab -q -n "$n" -c 1 -A alice:alice-pw "$url" 2>&1)"
  cpu_after="$(slapd_cpu_ms)"
  local failed mean
  failed="$(awk '/^Non-2xx responses/ {print $3}' <<<"$out")"
  mean="$(awk '/^Time per request/ {print $4; exit}' <<<"$out")"
  printf '%-5s %6d logins, mean %s ms per login, slapd CPU %s ms%s\n' "$1" "$n" "$mean" \
    "$((cpu_after - cpu_before))" "${failed:+ ($failed non-2xx!)}"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

echo "rewho ($profile build), slapd and memcached on loopback, one client (ab -c 1):"
run cold "$work/cold.ini"
run warm "$work/warm.ini"
