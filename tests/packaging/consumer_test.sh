#!/usr/bin/env bash
# Builds and installs the writer alone (-DHEARTBEAT_WRITER_ONLY=ON) into a scratch prefix, then
# builds tests/packaging/consumer, a program outside this project, against the installed CMake
# package and runs it: what the README tells a program that adds a heartbeat to do.
#   tests/packaging/consumer_test.sh SOURCE_DIR CXX_COMPILER [COMPILER_LAUNCHER]
#
# Checks: the writer-only build configures with the exporter's dependencies (prometheus-cpp,
# civetweb, zlib, yaml-cpp) and the tests' (Catch2, Python, Google Benchmark) all disabled, which
# fails any find_package that needs them; it installs heartbeatctl, the public headers,
# libheartbeat_writer.a and the package files, and not the exporter; the installed headers do not
# include RapidJSON and the consumer configures with RapidJSON disabled; the consumer finds the
# package in the scratch prefix, writes a heartbeat and reads it back.
set -euo pipefail

usage="usage: consumer_test.sh SOURCE_DIR CXX_COMPILER [COMPILER_LAUNCHER]"
source=$(realpath "${1:?$usage}")
compiler=${2:?$usage}
launcher=${3:-}

fail() {
  echo "consumer_test: FAIL: $*" >&2
  exit 1
}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
prefix="$scratch/prefix"
compile=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_COMPILER=$compiler")
[[ -z "$launcher" ]] || compile+=("-DCMAKE_CXX_COMPILER_LAUNCHER=$launcher")

# run LOG COMMAND...: quiet unless the command fails.
run() {
  local log=$1
  shift
  "$@" >"$scratch/$log" 2>&1 || {
    cat "$scratch/$log" >&2
    fail "$* failed"
  }
}

disabled=()
for package in prometheus-cpp civetweb ZLIB yaml-cpp Catch2 Python3 benchmark; do
  disabled+=("-DCMAKE_DISABLE_FIND_PACKAGE_$package=ON")
done
run writer-configure.log cmake -S "$source" -B "$scratch/writer" "${compile[@]}" \
  -DHEARTBEAT_WRITER_ONLY=ON -DHEARTBEAT_WERROR=ON "${disabled[@]}"
run writer-build.log cmake --build "$scratch/writer" -j2
run writer-install.log cmake --install "$scratch/writer" --prefix "$prefix"

[[ -x "$prefix/bin/heartbeatctl" ]] || fail "the writer-only install lacks bin/heartbeatctl"
[[ ! -e "$prefix/bin/heartbeat_exporter" ]] || fail "the writer-only install has the exporter"
libraries=$(cd "$prefix" && find . -name '*.a' -o -name '*.so*' | sort)
[[ $libraries == ./lib/libheartbeat_writer.a ]] || fail "installed libraries: $libraries"
for header in reader.h timestamp.h writer.h; do
  [[ -f "$prefix/include/heartbeat_exporter/$header" ]] || fail "$header is not installed"
done
if grep -rl rapidjson "$prefix/include"; then
  fail "an installed header includes RapidJSON, so programs would need it too"
fi

run consumer-configure.log cmake -S "$source/tests/packaging/consumer" -B "$scratch/consumer" \
  "${compile[@]}" "-DCMAKE_PREFIX_PATH=$prefix" -DCMAKE_DISABLE_FIND_PACKAGE_RapidJSON=ON
found=$(sed -n 's/^heartbeat_exporter_DIR:PATH=//p' "$scratch/consumer/CMakeCache.txt")
[[ $found == "$prefix/lib/cmake/heartbeat_exporter" ]] ||
  fail "the consumer found heartbeat_exporter in '$found', not in the scratch prefix"
run consumer-build.log cmake --build "$scratch/consumer"

"$scratch/consumer/heartbeat_consumer" "$scratch/heartbeats" || fail "heartbeat_consumer failed"
