# Shared set-up of the bench/ scripts (sourced, not run). After `bench_setup`:
#   $root     the workspace          $py       the bench venv's python (repoze.who, gunicorn)
#   $rewho    release `rewho`        $inproc   release `inprocess_bench` example
#   $floor    release `http_floor` example (an HTTP server that does nothing)
#   $parser_floor  release `parser_floor` example (the same, a bare httparse loop, no hyper)
#   $work     a temporary folder, removed on exit with every process in $pids
#
# Set-up, all automatic: Debian packages wrk, apache2-utils, python3-venv and valgrind
# (apt-get, when missing and we may), a Python venv of its own in target/bench-venv
# (python3 -m venv + pip, pinned in tests/python/requirements.txt and
# bench/requirements.txt), release builds of rewho, every plugin and the in-process harness.

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

bench_need_tools() {
  local missing=()
  command -v wrk >/dev/null || missing+=(wrk)
  command -v htpasswd >/dev/null || missing+=(apache2-utils)
  python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
  command -v valgrind >/dev/null || missing+=(valgrind) # instruction counts (scaling.sh)
  [ "${#missing[@]}" -eq 0 ] && return 0
  local sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "installing ${missing[*]} with apt-get" >&2
  if ! { $sudo_cmd apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
    echo "cannot install ${missing[*]}: install them (Debian package names) and re-run" >&2
    exit 2
  fi
}

bench_venv() {
  local venv="$root/target/bench-venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$root/tests/python/requirements.txt" -r "$root/bench/requirements.txt"
  py="$venv/bin/python"
}

# BENCH_SKIP_BUILD=1 reuses the release builds as they are: the two cargo commands unify
# dependency features differently (the harness links the plugins' rlibs as dev-dependencies),
# so each rebuilds a few of the other's crates, minutes on a busy 2-core machine.
bench_build() {
  if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    (cd "$root" && cargo build --quiet --release -p rewho --example inprocess_bench \
      --example http_floor --example parser_floor && cargo build --quiet --release --workspace)
  fi
  rewho="$root/target/release/rewho"
  inproc="$root/target/release/examples/inprocess_bench"
  floor="$root/target/release/examples/http_floor"
  parser_floor="$root/target/release/examples/parser_floor"
}

bench_cleanup() {
  local p
  # A server killed here makes `wait` return 143: under `set -e` that must not become the
  # script's exit status after every measurement succeeded.
  for p in "${pids[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null && { wait "$p" 2>/dev/null || true; }
  done
  rm -rf "$work"
}

bench_setup() {
  bench_need_tools
  bench_venv
  bench_build
  work="$(mktemp -d)"
  pids=()
  trap bench_cleanup EXIT
  export PYTHONPATH="$root/bench${PYTHONPATH:+:$PYTHONPATH}"
}

free_port() {
  "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # port [seconds]
  local i
  for i in $(seq $((${2:-20} * 10))); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $1 never opened" >&2
  return 1
}

# The cookie-only chain of compare.sh and cpu_split.sh: auth_tkt alone identifies and
# authenticates, no plugin does I/O, so `rewho serve` runs it on its reactor threads instead of
# tokio's blocking pool (htpasswd may stat/read its file). $1 the file to write.
write_tkt_ini() {
  cat > "$1" <<INI
[general]
request_classifier = repoze.who.classifiers:default_request_classifier
challenge_decider = repoze.who.classifiers:default_challenge_decider

[plugin:auth_tkt]
use = repoze.who.plugins.auth_tkt:make_plugin
secret = bench-secret-0123456789
cookie_name = auth_tkt

[plugin:basicauth]
use = repoze.who.plugins.basicauth:make_plugin
realm = bench

[identifiers]
plugins = auth_tkt
[authenticators]
plugins = auth_tkt
[challengers]
plugins = basicauth
INI
}

# Starts `COMMAND... 127.0.0.1:PORT` (a server taking its address last) on a free port, its
# stdout discarded, adds it to $pids for clean-up and waits for the port. Sets $started_port
# and $started_pid: the server must be this shell's child, so it cannot print them.
start_listening() {
  started_port="$(free_port)"
  "$@" "127.0.0.1:$started_port" >/dev/null &
  started_pid=$!
  pids+=("$started_pid")
  wait_port "$started_port"
}

# Exits unless every URL answers 200 to the auth_tkt cookie value $1, so that nothing is
# measured against a server that would refuse it.
expect_cookie_granted() { # cookie url...
  local url got
  for url in "${@:2}"; do
    got="$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: auth_tkt=\"$1\"" "$url" || true)"
    [ "$got" = 200 ] || { echo "$url answered $got to a valid cookie, want 200" >&2; exit 1; }
  done
}

# A valid auth_tkt cookie value (quoted as repoze.who sets it) for `alice`, minted by
# repoze.who itself: $1 secret, $2 user (default alice).
mint_cookie() {
  "$py" -c 'import sys, repoze.who._auth_tkt as t; print(t.AuthTicket(sys.argv[1], sys.argv[2], "0.0.0.0").cookie_value())' \
    "$1" "${2:-alice}"
}

machine_line() {
  echo "machine: $(nproc) cores, $(uname -m), $(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}'), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
}
