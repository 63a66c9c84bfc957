#!/usr/bin/env bash
# Installs, with apt-get, the Debian 12 packages needed to build heartbeat_exporter and run its
# tests, skipping apt entirely when they are all present already.
#   deploy/scripts/install-build-deps.sh            build dependencies
#   deploy/scripts/install-build-deps.sh --tests    plus what the test suite runs (promtool, python3)
# Then it fetches Debian's civetweb source, which the build compiles in (fetch-civetweb-source.sh).
set -euo pipefail

# dpkg-dev: cpack's .deb needs dpkg-shlibdeps to work out the runtime dependencies, and
# dpkg-source unpacks civetweb's source package; gcc and libssl-dev compile civetweb.
packages=(g++ gcc cmake make git pkg-config prometheus-cpp-dev libssl-dev rapidjson-dev zlib1g-dev
          libyaml-cpp-dev libcrypt-dev catch2 dpkg-dev)
# Schedules ("schedule", "timezone") are evaluated with Howard Hinnant's date library (C++20's
# time zones, which GCC 12 lacks) over the system's tz database in /usr/share/zoneinfo (tzdata).
packages+=(libhowardhinnant-date-dev tzdata)
if [[ "${1:-}" == "--tests" ]]; then
  # promtool and amtool check the alerting assets; prometheus and alertmanager run the e2e
  # test; curl and openssl test TLS; python3 writes heartbeats as a Python program would.
  # systemd provides systemd-analyze, which verifies the unit file.
  # valgrind checks the exporter for leaks over many scrapes.
  packages+=(prometheus prometheus-alertmanager python3 procps curl openssl systemd valgrind)
  # pytest runs the Python package's tests (tests/python).
  packages+=(python3-pytest)
  # libFuzzer: clang with its runtime, and llvm-symbolizer for readable crash reports.
  packages+=(clang libclang-rt-14-dev llvm)
  # The scale benchmark: Google Benchmark for the in-process parts, and node_exporter's
  # textfile collector to compare with.
  packages+=(libbenchmark-dev prometheus-node-exporter)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
fetch_civetweb_source() { "$(dirname "${BASH_SOURCE[0]}")/fetch-civetweb-source.sh"; }
if [[ ${#missing[@]} -eq 0 ]]; then
  fetch_civetweb_source
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-build-deps: missing packages: ${missing[*]}; run as root or install them" >&2
  exit 1
fi
echo "install-build-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fetch_civetweb_source
