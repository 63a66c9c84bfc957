#!/usr/bin/env bash
# Builds heartbeat_exporter and runs the whole test suite: the workflows of CMakePresets.json,
# which say what each stage builds and which ctest labels it runs. The normal build comes first,
# then the other stages, fastest first:
#   normal  warnings as errors, every test (unit, integration, alerts, e2e, packaging, soak,
#           fault, memory, bench: the scale benchmark once, at a small size)
#   tsan    ThreadSanitizer: the test cases tagged [threads]
#   fuzz    each libFuzzer target for $FUZZ_SECONDS (default 45)
#   asan    AddressSanitizer + UndefinedBehaviorSanitizer: the unit, integration and fault tests
# Installs missing Debian packages first. Builds and ctest use every core unless
# CMAKE_BUILD_PARALLEL_LEVEL or CTEST_PARALLEL_LEVEL say otherwise.
#   tests/run.sh                   everything (what CI runs)
#   tests/run.sh --quick [ARGS]    the normal build and its tests only; ARGS go to ctest,
#                                  e.g. --quick -L unit
set -euo pipefail
cd "$(dirname "$0")/.."

quick=false
if [[ "${1:-}" == "--quick" ]]; then
  quick=true
  shift
fi

deploy/scripts/install-build-deps.sh --tests

export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
export CTEST_PARALLEL_LEVEL=${CTEST_PARALLEL_LEVEL:-$(nproc)}

stage_start=$SECONDS
stage() {
  stage_start=$SECONDS
  printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"
}
stage_done() {
  printf '=== %s passed in %d s\n' "$1" $((SECONDS - stage_start))
}

# Stages stop at the first failure, so every test counted has passed by the time the summary is
# printed. count_tests PRESET [ctest args...]
passed=0
count_tests() {
  local n
  n=$(ctest --preset "$@" -N | sed -n 's/^Total Tests: //p')
  passed=$((passed + n))
}

if $quick; then
  stage "normal (quick)"
  cmake --preset normal >/dev/null
  cmake --build --preset normal
  ctest --preset normal "$@"
  count_tests normal "$@"
  stage_done normal
  echo "summary: $passed passed, 0 failed"
  exit 0
fi

presets=(normal tsan fuzz asan)
for i in "${!presets[@]}"; do
  preset=${presets[$i]}
  stage "$((i + 1))/${#presets[@]} $preset"
  cmake --workflow --preset "$preset"
  count_tests "$preset"
  stage_done "$preset"
done

echo "summary: $passed passed, 0 failed"
