#include "check/models.h"

#include <algorithm>

namespace heartbeat_exporter {

std::string_view to_string(HealthState state) {
  switch (state) {
    case HealthState::kHealthy:
      return "HEALTHY";
    case HealthState::kTimedOut:
      return "TIMED_OUT";
    case HealthState::kNoHeartbeat:
      return "NO_HEARTBEAT";
    case HealthState::kStalePid:
      return "STALE_PID";
    case HealthState::kErrorStatus:
      return "ERROR_STATUS";
  }
  return "UNKNOWN";
}

std::string_view to_label_value(HealthState state) {
  switch (state) {
    case HealthState::kHealthy:
      return "healthy";
    case HealthState::kTimedOut:
      return "timed_out";
    case HealthState::kNoHeartbeat:
      return "no_heartbeat";
    case HealthState::kStalePid:
      return "stale_pid";
    case HealthState::kErrorStatus:
      return "error_status";
  }
  return "unknown";
}

bool MonitorReport::all_healthy() const {
  return std::all_of(results.begin(), results.end(), [](const CheckResult& result) {
    return result.state == HealthState::kHealthy;
  });
}

}  // namespace heartbeat_exporter
