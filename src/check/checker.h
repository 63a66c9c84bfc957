// Stage 4, check: decides each process's health state from its heartbeat, the time and /proc.
#pragma once

#include <memory>

#include "check/models.h"
#include "check/process_table.h"
#include "config/config.h"
#include "discover/discover.h"
#include "heartbeat_exporter/reader.h"

namespace heartbeat_exporter {

// The tolerance for comparing a process's start time with its heartbeat: /proc/stat's boot
// time is whole seconds and start times are clock ticks, so the two can disagree by up to 1 s.
inline constexpr std::chrono::seconds kStartTimeTolerance{1};

// Decides one process's state. A pure function of its inputs; the first rule that applies wins:
//   1. NO_HEARTBEAT  the read failed, or the timestamp is more than timeout_seconds in the future
//   2. STALE_PID     the pid is gone, a zombie, or now held by another process (pid reuse: start
//                    ticks differ, or without them a start after the heartbeat); skipped when
//                    check_pid is false, and for a run's final heartbeat (it carries exit_code),
//                    whose process is meant to be gone. A pid of another pid namespace
//                    (pid_namespace) is the process ProcessTable::lookup_namespaced finds; when
//                    the exporter cannot see that namespace, or start_ticks is missing, the check
//                    is skipped and CheckResult::pid_check_skipped says why
//   3. TIMED_OUT     now - timestamp > timeout_seconds; with a schedule, the first time the job
//                    was due after the timestamp passed more than grace_seconds ago, and
//                    timeout_seconds bounds only a "running" heartbeat (a hung run)
//   4. ERROR_STATUS  status is neither "running" nor "completed"
//   5. HEALTHY
CheckResult decide_health(const ProcessConfig& process, const ReadResult& read, Timestamp now,
                          const ProcessTable& processes);
// The same, taking the process over instead of copying it.
CheckResult decide_health(ProcessConfig&& process, const ReadResult& read, Timestamp now,
                          const ProcessTable& processes);

// Reads one heartbeat and decides its state, taking "now" after the read.
CheckResult check_process(const ProcessConfig& process, const Clock& clock,
                          const ProcessTable& processes);

class HeartbeatCache;

struct CheckerOptions {
  // Threads that read heartbeats (and decide) in parallel; 0 means one per CPU, up to 4.
  unsigned threads = 1;
  // Reuse what an unchanged heartbeat file held at the last check (see HeartbeatCache).
  bool reuse_unchanged_files = false;
};

// The exporter's check on every scrape: discovers, reads and checks every process, like
// check_all_processes below, but can read on several threads and remember unchanged files.
// Every verdict, age and pid check is still made at each call. Safe to call from several
// threads at once.
class Checker {
 public:
  Checker(const Clock& clock, const ProcessTable& processes, CheckerOptions options = {});
  ~Checker();
  Checker(const Checker&) = delete;
  Checker& operator=(const Checker&) = delete;

  MonitorReport check_all(const Config& config) const;
  // The threads it reads with (options.threads, with 0 resolved).
  unsigned threads() const { return threads_; }

 private:
  const Clock& clock_;
  const ProcessTable& processes_;
  unsigned threads_;
  std::unique_ptr<HeartbeatCache> cache_;  // null unless reuse_unchanged_files
};

// Discovers, reads and checks every process, on this thread. Every verdict is made now; nothing
// is reused. All ages are measured from one "now", taken after every file was read.
MonitorReport check_all_processes(const Config& config, const Clock& clock,
                                  const ProcessTable& processes);
// The same with the system clock and process table.
MonitorReport check_all_processes(const Config& config);

}  // namespace heartbeat_exporter
