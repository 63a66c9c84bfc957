#!/usr/bin/env bash
# Builds heartbeat_exporter and runs the whole test suite (unit and integration) with ctest.
# Installs missing Debian packages first. Extra arguments go to ctest, e.g. `tests/run.sh -L unit`.
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/scripts/install-build-deps.sh --tests
build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEARTBEAT_WERROR=ON -DHEARTBEAT_BUILD_TESTS=ON >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
cd "$build_dir"
ctest --output-on-failure -j"$(nproc)" "$@"
