#!/usr/bin/env bash
# Verifies the systemd unit with systemd's own checker, as a systemd host would load it.
#   tests/packaging/verify_unit.sh UNIT_FILE EXPORTER_BINARY
#
# `systemd-analyze verify` works without systemd as PID 1 (it loads the unit offline) but refuses
# a unit whose ExecStart binary does not exist, so the unit is checked from a copy whose
# ExecStart points at EXPORTER_BINARY. It also only warns (exit status 0) about unknown keys and
# bad values, so any output at all fails the test. `systemd-analyze security --offline` then
# scores the sandbox, so that dropping a hardening line fails too.
set -euo pipefail

unit=${1:?usage: verify_unit.sh UNIT_FILE EXPORTER_BINARY}
binary=${2:?usage: verify_unit.sh UNIT_FILE EXPORTER_BINARY}
# Exposure in tenths (0 = fully sandboxed, 100 = none): the unit scores 1.6 today, so anything
# higher means a hardening line was lost.
max_exposure=16

fail() {
  echo "verify_unit: FAIL: $*" >&2
  exit 1
}

command -v systemd-analyze >/dev/null || fail "systemd-analyze not found (Debian package: systemd)"
[[ -x "$binary" ]] || fail "exporter binary $binary is not executable (build heartbeat_exporter first)"
binary=$(realpath "$binary")

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
name=$(basename "$unit")
expected_exec='ExecStart=/usr/bin/heartbeat_exporter --config.file=/etc/heartbeat_exporter/config.json'

grep -qxF "$expected_exec" "$unit" || fail "$unit: no line '$expected_exec'"
sed "s#^ExecStart=/usr/bin/heartbeat_exporter #ExecStart=$binary #" "$unit" >"$scratch/$name"

# A misspelt key must make verify speak, or the checks below prove nothing.
sed 's/^ProtectSystem=/ProtectSytem=/' "$scratch/$name" >"$scratch/misspelt-$name"
misspelt_output=$(systemd-analyze verify --man=no "$scratch/misspelt-$name" 2>&1 || true)
[[ "$misspelt_output" == *"Unknown key"*"ProtectSytem"* ]] ||
  fail "systemd-analyze verify did not report a misspelt key; it said: $misspelt_output"

if ! output=$(systemd-analyze verify --man=no "$scratch/$name" 2>&1); then
  fail "systemd-analyze verify $unit failed: $output"
fi
[[ -z "$output" ]] || fail "systemd-analyze verify $unit warned: $output"

if ! security=$(systemd-analyze security --offline=yes --threshold="$max_exposure" \
  "$scratch/$name" 2>&1); then
  fail "$unit: sandbox exposure above $((max_exposure / 10)).$((max_exposure % 10)):
$(grep -e '✗' -e 'Overall' <<<"$security")"
fi

# Decisions that the exposure score does not see.
# shellcheck disable=SC2016 # $MAINPID is systemd's, not ours
required=(
  'User=heartbeat_exporter'
  'DynamicUser=no'
  'ExecReload=/bin/kill -HUP $MAINPID'
  'Restart=on-failure'
  'CapabilityBoundingSet='
  'ProtectProc=default'
  'ProcSubset=all'
  'ReadOnlyPaths=-/var/lib/heartbeats'
  'SystemCallFilter=@system-service'
  'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX'
  'MemoryMax=1G'
  'TasksMax=1100'
)
for line in "${required[@]}"; do
  grep -qxF "$line" "$unit" || fail "$unit: missing line '$line'"
done

echo "verify_unit: $unit passes systemd-analyze verify; $(echo "$security" | tail -n 1)"
