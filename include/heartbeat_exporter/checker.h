#pragma once

#include "heartbeat_exporter/config.h"
#include "heartbeat_exporter/discover.h"
#include "heartbeat_exporter/models.h"
#include "heartbeat_exporter/process_table.h"
#include "heartbeat_exporter/reader.h"

namespace heartbeat_exporter {

// The tolerance for comparing a process's start time with its heartbeat: /proc/stat's boot
// time is whole seconds and start times are clock ticks, so the two can disagree by up to 1 s.
inline constexpr std::chrono::seconds kStartTimeTolerance{1};

// Decides one process's state. A pure function of its inputs; the first rule that applies wins:
//   1. NO_HEARTBEAT  the read failed, or the timestamp is more than timeout_seconds in the future
//   2. STALE_PID     the pid is gone, a zombie, or now held by a process that started after the
//                    heartbeat (pid reuse); skipped when check_pid is false
//   3. TIMED_OUT     now - timestamp > timeout_seconds
//   4. ERROR_STATUS  status != "running"
//   5. HEALTHY
CheckResult decide_health(const ProcessConfig& process, const ReadResult& read, Timestamp now,
                          const ProcessTable& processes);

// Reads one heartbeat and decides its state, taking "now" after the read.
CheckResult check_process(const ProcessConfig& process, const Clock& clock,
                          const ProcessTable& processes);

// Discovers, reads and checks every process. Every verdict is made now; nothing is reused.
MonitorReport check_all_processes(const Config& config, const Clock& clock,
                                  const ProcessTable& processes);
// The same with the system clock and process table.
MonitorReport check_all_processes(const Config& config);

}  // namespace heartbeat_exporter
