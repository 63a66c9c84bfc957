#!/usr/bin/env bash
# Builds heartbeat_exporter and runs the whole test suite, in four stages:
#   1. the normal build, every ctest label: unit, integration, alerts, e2e, packaging, soak,
#      fault, memory, bench (the scale benchmark once, at a small size)
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build: the unit, integration and fault
#      tests, which include concurrent scrapes and reloads
#   3. a ThreadSanitizer build (clang): the tests that check, scrape or compress concurrently
#   4. libFuzzer (clang): every fuzz target for a bounded time (FUZZ_SECONDS, default 45)
# Installs missing Debian packages first.
#   tests/run.sh                   everything (what CI runs)
#   tests/run.sh --quick [ARGS]    stage 1 only; ARGS go to ctest, e.g. --quick -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=$(nproc)

quick=false
if [[ "${1:-}" == "--quick" ]]; then
  quick=true
  shift
fi

deploy/scripts/install-build-deps.sh --tests

stage() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

# How many tests ctest has in a build dir for the given arguments (stages stop at a failure, so
# every counted test passed by the time the summary is printed).
passed=0
count_tests() {
  local n
  n=$(cd "$1" && shift && ctest -N "$@" | sed -n 's/^Total Tests: //p')
  passed=$((passed + n))
}

# configure_and_build DIR [cmake args...] -- [targets...]
configure_and_build() {
  local dir=$1
  shift
  local args=()
  while [[ $# -gt 0 && "$1" != "--" ]]; do args+=("$1"); shift; done
  [[ "${1:-}" == "--" ]] && shift
  cmake -S "$root" -B "$dir" "${args[@]}" >/dev/null
  if [[ $# -gt 0 ]]; then
    cmake --build "$dir" -j"$jobs" --target "$@"
  else
    cmake --build "$dir" -j"$jobs"
  fi
}

stage "1/4 build and test"
build_dir=${BUILD_DIR:-build}
configure_and_build "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEARTBEAT_BUILD_TESTS=ON \
  -DHEARTBEAT_WERROR=ON
(cd "$build_dir" && ctest --output-on-failure -j"$jobs" "$@")
count_tests "$build_dir" "$@"
if $quick; then
  echo "summary: $passed passed, 0 failed"
  exit 0
fi

# Warnings are errors in stage 1 only: with sanitizers GCC 12 reports -Wmaybe-uninitialized
# inside libstdc++'s <regex> and <functional>, false positives its manual warns about.
stage "2/4 AddressSanitizer + UndefinedBehaviorSanitizer"
sanitize="-fno-omit-frame-pointer -fno-sanitize-recover=all"
# Only what the unit, integration and fault tests run is built (not soak, memory or bench).
configure_and_build build-asan -DCMAKE_BUILD_TYPE=Debug -DHEARTBEAT_BUILD_TESTS=ON -DHEARTBEAT_WERROR=OFF \
  "-DCMAKE_CXX_FLAGS=-O1 -fsanitize=address,undefined $sanitize" -- heartbeat_exporter heartbeatctl \
  timestamp_test reader_test writer_test config_test discover_test checker_test metrics_test web_test \
  util_test fuzz_replay_test integration_test fault_test
# The one suppression is a bug in Debian's RapidJSON headers (see tests/fuzz/ubsan.supp).
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$root/tests/fuzz/ubsan.supp \
  ctest --output-on-failure -j"$jobs" -L "unit|integration|fault")
count_tests build-asan -L "unit|integration|fault"

# clang, not GCC 12: GCC 12's ThreadSanitizer build of the concurrency test crashes on a
# virtual call through an object on the main thread's stack (a null vptr) that clang's build,
# the ASan build and the normal build all run cleanly.
stage "3/4 ThreadSanitizer"
configure_and_build build-tsan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ \
  -DHEARTBEAT_BUILD_TESTS=ON -DHEARTBEAT_WERROR=OFF \
  "-DCMAKE_CXX_FLAGS=-O1 -fsanitize=thread $sanitize" -- checker_test metrics_test
tsan_tests="concurrent|parallel"
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --output-on-failure -R "$tsan_tests")
count_tests build-tsan -R "$tsan_tests"

stage "4/4 fuzzing"
configure_and_build build-fuzz -DHEARTBEAT_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ \
  -DHEARTBEAT_BUILD_TESTS=OFF -DHEARTBEAT_WERROR=ON -- fuzzers
tests/fuzz/run.sh build-fuzz "${FUZZ_SECONDS:-45}"
passed=$((passed + $(find tests/fuzz -maxdepth 1 -name 'fuzz_*.cc' | wc -l)))

stage "all stages passed"
echo "summary: $passed passed, 0 failed"
