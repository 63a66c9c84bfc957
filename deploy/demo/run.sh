#!/usr/bin/env bash
# Quick start: builds heartbeat_exporter, writes demo heartbeats that cover every health state
# and serves them on http://localhost:10180/metrics until Ctrl-C.
#   web_server      HEALTHY       a background loop beats every 5 s
#   workers/*       HEALTHY       two workers in a discovered heartbeat folder, beating too
#   stuck_worker    TIMED_OUT     its last heartbeat is 5 minutes old
#   crashed_daemon  STALE_PID     its heartbeat names a pid that has exited
#   failing_job     ERROR_STATUS  it reports status "error"
#   never_started   NO_HEARTBEAT  it has no heartbeat file
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

deploy/scripts/install-build-deps.sh
# The same settings as tests/run.sh, so that the two share one build.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEARTBEAT_WERROR=ON -DHEARTBEAT_BUILD_TESTS=ON >/dev/null
cmake --build build -j"$(nproc)" --target heartbeat_exporter heartbeatctl

ctl=$root/build/heartbeatctl
beats=$root/deploy/demo/heartbeats
rm -rf "$beats"
mkdir -p "$beats/workers"

# HEALTHY: a writer that keeps beating; heartbeatctl reports the loop's shell as the pid.
(
  trap 'exit 0' TERM
  while :; do
    "$ctl" beat --dir "$beats" --key web_server
    "$ctl" beat --dir "$beats/workers" --key worker-1
    "$ctl" beat --dir "$beats/workers" --key worker-2
    sleep 5
  done
) &
writer=$!
trap 'kill $writer 2>/dev/null || true' EXIT

# ERROR_STATUS: alive and fresh, but reporting an error.
"$ctl" beat --dir "$beats" --key failing_job --status error --pid "$writer"

# STALE_PID: a heartbeat from a process that has since exited.
sh -c 'exit 0' &
dead=$!
wait "$dead" || true
"$ctl" beat --dir "$beats" --key crashed_daemon --pid "$dead"

# TIMED_OUT: written the way any language would, temp file then rename, 5 minutes ago.
stamp=$(date -u -d '5 minutes ago' +%Y-%m-%dT%H:%M:%S.000000+00:00)
printf '{"process_key": "stuck_worker", "pid": %d, "timestamp": "%s", "status": "running", "iteration": 12}\n' \
  "$writer" "$stamp" >"$beats/.stuck_worker.json.tmp"
mv "$beats/.stuck_worker.json.tmp" "$beats/stuck_worker.json"

sleep 0.2  # let the writer loop write its first beats
echo
echo "Serving demo heartbeats on http://localhost:10180/ (metrics: curl localhost:10180/metrics)."
echo "Ctrl-C stops the exporter and the demo writer."
echo
build/heartbeat_exporter --config.file=deploy/demo/config.json --web.listen-address=:10180
