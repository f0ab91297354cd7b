#!/usr/bin/env bash
# Instructions per request of rewho's in-process Api, counted by valgrind's callgrind: unlike
# wall time, the count does not change when other processes load the machine, so it shows
# small differences (a plugin more in a chain, a larger file) that timing noise hides.
#
# usage: bash bench/instructions.sh [--static] WHO_INI REQUEST_JSON
#   (the arguments of host/examples/inprocess_bench.rs, without the iteration count)
# Prints one number: the instructions of 10 000 more requests, divided by 10 000 (start-up and
# the first request cancel out). Needs valgrind (Debian package `valgrind`) and the release
# harness (`cargo build --release -p rewho --example inprocess_bench`, or any bench/ script).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
inproc="$root/target/release/examples/inprocess_bench"
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind" >&2; exit 2; }
[ -x "$inproc" ] || { echo "$inproc is missing: cargo build --release -p rewho --example inprocess_bench" >&2; exit 2; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
args=("$@")
count_n() {
  # A harness that fails (a bad who.ini, request JSON that does not parse) must not print a
  # count: both runs would stop at the same point and their difference would look like one.
  if ! valgrind --tool=callgrind --error-exitcode=0 --callgrind-out-file="$out/cg.$1" \
    "$inproc" "${args[@]}" "$1" >/dev/null 2>"$out/log.$1"; then
    echo "inprocess_bench failed ($*):" >&2
    grep -v '^==' "$out/log.$1" | head -20 >&2
    exit 1
  fi
  awk '/Collected :/ {print $4}' "$out/log.$1"
}
a="$(count_n 1000)"
b="$(count_n 11000)"
echo $(((b - a) / 10000))
