#pragma once

#include <array>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "discover/discover.h"
#include "heartbeat_exporter/reader.h"
#include "heartbeat_exporter/timestamp.h"

namespace heartbeat_exporter {

enum class HealthState {
  kHealthy,
  kTimedOut,
  kNoHeartbeat,
  kStalePid,
  kErrorStatus,
};

inline constexpr std::array<HealthState, 5> kAllHealthStates = {
    HealthState::kHealthy, HealthState::kTimedOut, HealthState::kNoHeartbeat,
    HealthState::kStalePid, HealthState::kErrorStatus};

// "HEALTHY", "TIMED_OUT", ... as in the product description.
std::string_view to_string(HealthState state);
// "healthy", "timed_out", ... the value of the `state` label.
std::string_view to_label_value(HealthState state);

// The verdict on one process at one moment.
struct CheckResult {
  ProcessConfig process;
  HealthState state = HealthState::kNoHeartbeat;
  // Machine-readable cause, empty when healthy: a ReadError name for a failed read, or
  // "timestamp_in_future", "process_gone", "zombie", "pid_reused", "timed_out", "missed_schedule",
  // "error_status".
  std::string reason;
  std::string detail;                      // for people: the why, with figures
  std::optional<HeartbeatData> heartbeat;  // set whenever a valid heartbeat was read
  std::optional<ReadError> read_error;     // set when the read failed
  // Set whenever heartbeat is set, except for a timestamp too far in the future (no heartbeat).
  std::optional<double> age_seconds;
  // When the process is TIMED_OUT if no newer heartbeat arrives, in Unix seconds (a double, as
  // a timeout may be any finite number); in the past once it is. Set with age_seconds.
  std::optional<double> deadline_seconds;
  // Why the pid check was skipped although check_pid is set, one of kPidCheckSkipReasons; empty
  // when it was made. The state is then decided by the other rules, and detail says why.
  std::string pid_check_skipped{};
};

// The `reason` values of heartbeat_exporter_pid_checks_skipped_total:
//   namespace_not_visible  the heartbeat names a pid namespace that the exporter cannot see into
//                          (it does not run in the initial pid namespace, or /proc has hidepid)
//   no_start_ticks         the heartbeat names another pid namespace but no start_ticks, without
//                          which its process cannot be told from others with the same pid
inline constexpr std::string_view kPidCheckSkipReasons[] = {"namespace_not_visible",
                                                            "no_start_ticks"};

struct MonitorReport {
  std::vector<CheckResult> results;  // sorted by process key
  std::vector<std::string> discovery_errors;
  std::vector<FolderListing> folders;  // every heartbeat folder of the config, in config order
  Timestamp checked_at{};
  std::chrono::nanoseconds duration{};  // how long reading and checking took

  bool all_healthy() const;
};

}  // namespace heartbeat_exporter
