#include "heartbeat_exporter/checker.h"

#include <charconv>
#include <cstdio>
#include <string>
#include <utility>

#include "heartbeat_exporter/timestamp.h"

namespace heartbeat_exporter {
namespace {

double seconds_between(Timestamp later, Timestamp earlier) {
  return std::chrono::duration<double>(later - earlier).count();
}

// Ages to a tenth of a second, e.g. "95.3": enough for a person reading the detail.
std::string format_age(double seconds) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.1f", seconds);
  return buffer;
}

// Timeouts as configured, e.g. "60" or "2.5", not "60.000000".
std::string format_timeout(double seconds) {
  char buffer[64];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, seconds);
  if (error != std::errc()) return format_age(seconds);
  return std::string(buffer, end);
}

CheckResult verdict(CheckResult result, HealthState state, std::string reason, std::string detail) {
  result.state = state;
  result.reason = std::move(reason);
  result.detail = std::move(detail);
  return result;
}

}  // namespace

CheckResult decide_health(const ProcessConfig& process, const ReadResult& read, Timestamp now,
                          const ProcessTable& processes) {
  CheckResult result;
  result.process = process;

  if (!read.ok()) {
    ReadFailure failure =
        read.failure.value_or(ReadFailure{ReadError::kUnreadable, "no heartbeat was read"});
    result.read_error = failure.reason;
    return verdict(std::move(result), HealthState::kNoHeartbeat,
                   std::string(to_string(failure.reason)), std::move(failure.message));
  }

  const HeartbeatData& heartbeat = *read.heartbeat;
  result.heartbeat = heartbeat;
  double age_seconds = seconds_between(now, heartbeat.timestamp);
  // A clock that is far off on the writer's side must not make a heartbeat look fresh forever.
  if (-age_seconds > process.timeout_seconds) {
    return verdict(std::move(result), HealthState::kNoHeartbeat, "timestamp_in_future",
                   "heartbeat timestamp is " + format_age(-age_seconds) +
                       " s in the future (timeout " + format_timeout(process.timeout_seconds) +
                       " s)");
  }
  result.age_seconds = age_seconds;

  if (process.check_pid) {
    std::string pid = std::to_string(heartbeat.pid);
    ProcessInfo info = processes.lookup(heartbeat.pid);
    if (info.liveness == Liveness::kGone) {
      return verdict(std::move(result), HealthState::kStalePid, "process_gone",
                     "pid " + pid + " is not running");
    }
    if (info.liveness == Liveness::kZombie) {
      return verdict(std::move(result), HealthState::kStalePid, "zombie",
                     "pid " + pid + " has exited and is a zombie waiting to be reaped");
    }
    if (info.start_time && *info.start_time > heartbeat.timestamp + kStartTimeTolerance) {
      return verdict(std::move(result), HealthState::kStalePid, "pid_reused",
                     "pid " + pid + " now belongs to a process that started " +
                         format_timestamp(*info.start_time) + ", after the heartbeat at " +
                         format_timestamp(heartbeat.timestamp));
    }
  }

  if (age_seconds > process.timeout_seconds) {
    return verdict(std::move(result), HealthState::kTimedOut, "timed_out",
                   "last heartbeat " + format_age(age_seconds) + " s ago, timeout " +
                       format_timeout(process.timeout_seconds) + " s");
  }

  if (heartbeat.status != "running") {
    return verdict(std::move(result), HealthState::kErrorStatus, "error_status",
                   "status is \"" + heartbeat.status + "\"");
  }

  return verdict(std::move(result), HealthState::kHealthy, "", "");
}

CheckResult check_process(const ProcessConfig& process, const Clock& clock,
                          const ProcessTable& processes) {
  ReadResult read = read_heartbeat(process.heartbeat_path);
  // Taken after the read, so that a heartbeat written while reading is not in the future.
  Timestamp now = clock.now();
  return decide_health(process, read, now, processes);
}

MonitorReport check_all_processes(const Config& config, const Clock& clock,
                                  const ProcessTable& processes) {
  auto started = std::chrono::steady_clock::now();
  MonitorReport report;
  report.checked_at = clock.now();

  Discovery discovery = discover_processes(config);
  report.discovery_errors = std::move(discovery.errors);
  report.results.reserve(discovery.processes.size());
  for (const ProcessConfig& process : discovery.processes) {
    report.results.push_back(check_process(process, clock, processes));
  }

  report.duration = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::steady_clock::now() - started);
  return report;
}

MonitorReport check_all_processes(const Config& config) {
  static const SystemClock clock;
  static const SystemProcessTable processes;
  return check_all_processes(config, clock, processes);
}

}  // namespace heartbeat_exporter
