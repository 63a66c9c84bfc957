#!/usr/bin/env bash
# Runs every fuzz target for a bounded time over a copy of its seed corpus and regression inputs.
#
#   tests/fuzz/run.sh <build-dir> [seconds-per-target, default $FUZZ_SECONDS or 45]
#
# Builds nothing: configure and build first with
#   cmake --preset fuzz && cmake --build --preset fuzz
# The fuzz preset's ctest tests run this once per target (`cmake --workflow --preset fuzz`).
# Never writes into the repository: the corpus grows in a temp dir, which is removed after a clean
# run and kept (with the reproducer) after a crash, leak, timeout or out-of-memory.
# Environment: FUZZ_TARGETS (default "heartbeat timestamp config"), FUZZ_FLAGS (extra libFuzzer
# flags, e.g. "-fork=1 -ignore_crashes=1" to keep going after a finding), FUZZ_KEEP=1 (keep the
# temp dir).
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
  echo "usage: $0 <build-dir> [seconds-per-target]" >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
seconds=${2:-${FUZZ_SECONDS:-45}}
fuzz_dir=$(cd "$(dirname "$0")" && pwd)
targets=${FUZZ_TARGETS:-heartbeat timestamp config}

# The largest input worth generating per target. read_heartbeat refuses files over 64 KiB before
# parse_heartbeat sees them, so longer heartbeats cannot happen; valid timestamps are at most 35
# bytes; configs are a few KiB (load_config's 16 MiB bound is far past what fuzzing can cover).
declare -A max_len=([heartbeat]=65536 [timestamp]=64 [config]=65536)

work=$(mktemp -d "${TMPDIR:-/tmp}/heartbeat-fuzz.XXXXXX")
failed=()
printf '%-10s %12s %10s %8s %8s %14s %9s  %s\n' target execs exec/s cov ft corpus rss_mb result

for target in $targets; do
  binary="$build_dir/tests/fuzz/fuzz_$target"
  if [[ ! -x $binary ]]; then
    echo "$binary is missing: build the fuzzers target first" >&2
    exit 2
  fi
  corpus="$work/$target/corpus"
  artifacts="$work/$target/artifacts"
  log="$work/$target/fuzz.log"
  mkdir -p "$corpus" "$artifacts"
  cp "$fuzz_dir/corpus/$target/"* "$corpus/"
  if [[ -d $fuzz_dir/regressions/$target ]]; then
    cp "$fuzz_dir/regressions/$target/"* "$corpus/" 2>/dev/null || true
  fi

  status=0
  # shellcheck disable=SC2086  # FUZZ_FLAGS is a list of flags.
  "$binary" "$corpus" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="${max_len[$target]}" \
    -dict="$fuzz_dir/dict/$target.dict" -artifact_prefix="$artifacts/" -print_final_stats=1 \
    ${FUZZ_FLAGS:-} >"$log" 2>&1 || status=$?

  # Figures from libFuzzer's last status line and final stats; the corpus is counted on disk.
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  [[ -n $execs ]] || execs=$(sed -E -n 's/^#([0-9]+).*/\1/p' <<<"$last")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  [[ -n $rate ]] || rate=$(sed -E -n 's/.*exec\/s:? ([0-9]+).*/\1/p' <<<"$last")
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
  cov=$(sed -E -n 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -E -n 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")
  units=$(find "$corpus" -type f | wc -l)
  bytes=$(du -sb "$corpus" | cut -f1)
  reproducers=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) | sort)

  result=ok
  if [[ $status -ne 0 || -n $reproducers ]]; then
    result="FAILED (exit $status)"
    failed+=("$target")
  fi
  printf '%-10s %12s %10s %8s %8s %14s %9s  %s\n' "$target" "${execs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}" "$units/${bytes}b" "${rss:-?}" "$result"
  if [[ $result != ok ]]; then
    grep -E 'invariant broken|ERROR: |runtime error|SUMMARY' "$log" | sort -u | head -n 10 |
      sed 's/^/    /' || true
    count=$(grep -c . <<<"$reproducers" || true)
    # The first few are enough to start from; fork mode (FUZZ_FLAGS) can save hundreds.
    for reproducer in $(head -n 5 <<<"$reproducers"); do
      echo "    reproducer: $reproducer"
      echo "    replay:     $binary $reproducer"
    done
    [[ $count -le 5 ]] || echo "    ... and $((count - 5)) more in $artifacts"
    echo "    log:        $log"
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzzing found problems in: ${failed[*]} (kept $work)" >&2
  exit 1
fi
if [[ ${FUZZ_KEEP:-0} == 1 ]]; then
  echo "kept $work"
else
  rm -rf "$work"
fi
