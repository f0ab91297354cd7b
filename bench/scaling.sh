#!/usr/bin/env bash
# How the cost of one `authenticate()` grows, in-process, for repoze.who 3.1 and rewho:
#
# - with the number of identifiers (and authenticators) in the chain: N auth_tkt plugins, each
#   with its own cookie name, N = 1, 2, 4, 8; the request carries only the last one's cookie,
#   so every identifier looks and every authenticator is asked;
# - with the number of users in an htpasswd file ({SHA} entries, as `htpasswd -s` writes):
#   10, 1 000, 100 000 users; the request's user is on line min(users, 1000), because
#   repoze.who reads only the first 1000 lines of the file (users below are never found).
#
# Prints Markdown tables (docs/PERFORMANCE.md). Set-up as bench/compare.sh (bench/lib.sh).
# Usage: bash bench/scaling.sh [--quick]
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$root"
quick=0; [ "${1:-}" = "--quick" ] && quick=1
bench_setup

secret=bench-secret-0123456789
cookie="$(mint_cookie "$secret")"

# rewho's instructions per request (bench/instructions.sh), when valgrind is installed: a
# count the machine's load does not blur.
instructions() { # ini request-json
  if command -v valgrind >/dev/null; then bash bench/instructions.sh "$1" "$2"; else echo "n/a"; fi
}

row() { # label ini request-json py-iterations rs-iterations
  local p r i
  p="$("$py" bench/python_inprocess.py "$2" "$3" "$4")"
  r="$("$inproc" "$2" "$3" "$5")"
  i="$(instructions "$2" "$3")"
  "$py" - "$1" "$p" "$r" "$i" <<'PY'
import json, sys
label, p, r, i = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
assert p["userid"] is not None and str(p["userid"]) == str(r["userid"]), (p, r)
print(f"| {label} | {p['ns_per_op']/1000:.2f} µs | {r['ns_per_op']/1000:.3f} µs | {i} "
      f"| {p['ns_per_op']/r['ns_per_op']:.0f}× |")
PY
}

scale() { if [ "$quick" = 1 ]; then echo $(($1 / 10 + 1)); else echo "$1"; fi; }

echo "## Identifiers in the chain (auth_tkt × N, the last one's cookie)"
echo
echo "| N | repoze.who 3.1 | rewho | rewho, instructions | ratio |"
echo "|---|---|---|---|---|"
for n in 1 2 4 8; do
  ini="$work/chain-$n.ini"
  names=""
  : > "$ini"
  for i in $(seq "$n"); do
    printf '[plugin:tkt%d]\nuse = repoze.who.plugins.auth_tkt:make_plugin\nsecret = %s\ncookie_name = tkt%d\n\n' \
      "$i" "$secret" "$i" >> "$ini"
    names="$names tkt$i"
  done
  printf '[identifiers]\nplugins =%s\n[authenticators]\nplugins =%s\n' "$names" "$names" >> "$ini"
  req="{\"headers\":[[\"Cookie\",\"tkt$n=\\\"$cookie\\\"\"]]}"
  row "$n" "$ini" "$req" "$(scale 2000)" "$(scale 200000)"
done
echo

echo "## Users in the htpasswd file ({SHA}, Basic auth, the user on line min(users, 1000))"
echo
echo "| users | repoze.who 3.1 | rewho | rewho, instructions | ratio |"
echo "|---|---|---|---|---|"
basic="Basic $(printf 'alice:secret' | base64)"
for users in 10 1000 100000; do
  file="$work/passwd-$users"
  "$py" - "$file" "$users" <<'PY'
import base64, hashlib, sys
path, n = sys.argv[1], int(sys.argv[2])
def sha(pw):
    return "{SHA}" + base64.b64encode(hashlib.sha1(pw.encode()).digest()).decode()
# repoze.who reads only a file's first 1000 lines: alice is on the last line it reads.
alice = min(n, 1000) - 1
with open(path, "w") as f:
    for i in range(n):
        f.write(f"alice:{sha('secret')}\n" if i == alice else f"user{i:06d}:{sha(f'pw{i}')}\n")
PY
  for side in py rs; do
    check="repoze.who.plugins.htpasswd:sha1_check"
    [ "$side" = py ] && check="pychecks:sha1_check"
    printf '[plugin:basicauth]\nuse = repoze.who.plugins.basicauth:make_plugin\nrealm = bench\n\n[plugin:htpasswd]\nuse = repoze.who.plugins.htpasswd:make_plugin\nfilename = %s\ncheck_fn = %s\n\n[identifiers]\nplugins = basicauth\n[authenticators]\nplugins = htpasswd\n[challengers]\nplugins = basicauth\n' \
      "$file" "$check" > "$work/users-$users.$side.ini"
  done
  # repoze.who re-reads and scans up to 1000 lines on every request: fewer iterations there.
  n_py=$((40000 / (users < 1000 ? users + 100 : 1100))); [ "$n_py" -lt 20 ] && n_py=20
  req="{\"headers\":[[\"Authorization\",\"$basic\"]]}"
  p="$("$py" bench/python_inprocess.py "$work/users-$users.py.ini" "$req" "$(scale "$n_py")")"
  r="$("$inproc" "$work/users-$users.rs.ini" "$req" "$(scale 200000)")"
  i="$(instructions "$work/users-$users.rs.ini" "$req")"
  "$py" - "$users" "$p" "$r" "$i" <<'PY'
import json, sys
label, p, r, i = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
assert p["userid"] == "alice" and r["userid"] == "alice", (p, r)
print(f"| {int(label):,} | {p['ns_per_op']/1000:.2f} µs | {r['ns_per_op']/1000:.3f} µs | {i} "
      f"| {p['ns_per_op']/r['ns_per_op']:.0f}× |")
PY
done
echo
machine_line
