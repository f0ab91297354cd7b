#!/usr/bin/env bash
# Builds the cargo-fuzz targets and runs each for a bounded time, two at a time (the CI
# machine has two cores). Fails if any target finds a crash, panic, timeout or OOM; the
# input is left in fuzz/artifacts/<target>/ (see fuzz/README.md for turning it into a
# regression test).
#
#   bash fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#
# Runs on the stable toolchain: `--sanitizer none` needs no nightly flag (cargo-fuzz then
# passes only stable `-C` options: sancov coverage, `--cfg fuzzing`, debug assertions).
# The targets are safe Rust, so AddressSanitizer would add little; on a nightly toolchain
# set FUZZ_SANITIZER=address to use it.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TERM_COLOR=never

secs="${1:-60}"
shift || true
sanitizer="${FUZZ_SANITIZER:-none}"
jobs="${FUZZ_JOBS:-2}"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz/run.sh: cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
  exit 2
fi

targets_given=0
if [ "$#" -gt 0 ]; then
  targets_given=1
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

build_start=$SECONDS
if [ "$targets_given" = 1 ]; then
  for t in "${targets[@]}"; do
    cargo fuzz build --sanitizer "$sanitizer" "$t"
  done
else
  cargo fuzz build --sanitizer "$sanitizer"
fi
echo "fuzz: built ${#targets[@]} targets in $((SECONDS - build_start)) s"

mkdir -p work logs
run_one() {
  local t="$1"
  mkdir -p "work/$t" "artifacts/$t"
  # New inputs go to work/<t> (not committed); corpus/<t> is the committed seed corpus.
  if cargo fuzz run --sanitizer "$sanitizer" "$t" "work/$t" "corpus/$t" -- \
      -max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 -max_len=16384 \
      -print_final_stats=1 >"logs/$t.log" 2>&1; then
    local runs
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "logs/$t.log" | grep -Eo '[0-9]+$' || echo '?')
    echo "fuzz: $t: ok, $runs runs in ${secs} s, corpus $(ls "work/$t" | wc -l) inputs"
  else
    echo "fuzz: $t: FAILED (log: fuzz/logs/$t.log, input: fuzz/artifacts/$t/)"
    tail -n 40 "logs/$t.log"
    return 1
  fi
}

status=0
pids=()
names=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=("$!")
  names+=("$t")
  if [ "${#pids[@]}" -ge "$jobs" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
  fi
done
for p in "${pids[@]}"; do
  wait "$p" || status=1
done
if [ "$status" -eq 0 ]; then
  echo "fuzz: ${#targets[@]} passed, 0 failed"
else
  echo "fuzz: some targets failed" >&2
fi
exit "$status"
