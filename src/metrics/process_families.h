#pragma once

#include <array>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "check/models.h"

namespace heartbeat_exporter {

enum class FamilyType { kGauge, kCounter };

// One per-process metric family: everything the renderer (and the tests' TextSerializer oracle)
// needs to expose it, so that a new family is added in exactly one place.
struct ProcessFamily {
  std::string_view name;
  std::string_view help;
  FamilyType type;
  // The value of the process's one series, or nullopt for no series. Null for heartbeat_state,
  // which has one series per state (1 for the current state, 0 for the others).
  std::optional<double> (*value)(const CheckResult&);
  // For an info family (value 1), the labels that describe the process, e.g. its schedule. They
  // replace the process's static labels on its series, so that neither can clash with the
  // other: a query joins an info series on `process` (and the target's job and instance).
  // Null for every other family.
  std::vector<std::pair<std::string_view, std::string_view>> (*info_labels)(const CheckResult&) =
      nullptr;
};

namespace detail {

// A timestamp too far in the future is no heartbeat at all, so it gets no age or time either.
inline std::optional<double> age_seconds(const CheckResult& result) {
  if (!result.heartbeat || !result.age_seconds) return std::nullopt;
  return *result.age_seconds;
}
inline std::optional<double> last_timestamp_seconds(const CheckResult& result) {
  if (!result.heartbeat || !result.age_seconds) return std::nullopt;
  return to_unix_seconds(result.heartbeat->timestamp);
}
inline std::optional<double> iteration(const CheckResult& result) {
  if (!result.heartbeat || !result.heartbeat->iteration) return std::nullopt;
  return static_cast<double>(*result.heartbeat->iteration);
}
inline std::optional<double> timeout_seconds(const CheckResult& result) {
  return result.process.timeout_seconds;
}
inline std::optional<double> pid(const CheckResult& result) {
  if (!result.heartbeat) return std::nullopt;
  return static_cast<double>(result.heartbeat->pid);
}
inline std::optional<double> exit_code(const CheckResult& result) {
  if (!result.heartbeat || !result.heartbeat->exit_code) return std::nullopt;
  return *result.heartbeat->exit_code;
}
inline std::optional<double> last_run_duration_seconds(const CheckResult& result) {
  if (!result.heartbeat || !result.heartbeat->duration) return std::nullopt;
  return std::chrono::duration<double>(*result.heartbeat->duration).count();
}
inline std::optional<double> last_success_timestamp_seconds(const CheckResult& result) {
  if (!result.heartbeat || !result.heartbeat->last_success) return std::nullopt;
  return to_unix_seconds(*result.heartbeat->last_success);
}

inline std::optional<double> deadline_timestamp_seconds(const CheckResult& result) {
  return result.deadline_seconds;
}
inline std::optional<double> schedule_info(const CheckResult& result) {
  if (!result.process.schedule) return std::nullopt;
  return 1;
}
inline std::vector<std::pair<std::string_view, std::string_view>> schedule_labels(
    const CheckResult& result) {
  if (!result.process.schedule) return {};
  return {{"schedule", result.process.schedule->expression()},
          {"timezone", result.process.schedule->time_zone_name()}};
}

}  // namespace detail

// The per-process families, in the order they are exposed. heartbeat_state comes first and is
// the one without a value accessor.
inline constexpr std::array<ProcessFamily, 11> kProcessFamilies = {{
    {"heartbeat_state",
     "Health state of a monitored process: 1 for its current state, 0 for the others.",
     FamilyType::kGauge, nullptr},
    {"heartbeat_age_seconds",
     "Seconds since the process's last heartbeat (now minus its timestamp).", FamilyType::kGauge,
     &detail::age_seconds},
    {"heartbeat_last_timestamp_seconds", "Unix time of the process's last heartbeat.",
     FamilyType::kGauge, &detail::last_timestamp_seconds},
    {"heartbeat_iteration_total", "Iteration counter reported in the process's last heartbeat.",
     FamilyType::kCounter, &detail::iteration},
    {"heartbeat_timeout_seconds", "Configured heartbeat timeout of the process.",
     FamilyType::kGauge, &detail::timeout_seconds},
    {"heartbeat_pid", "Process ID reported in the process's last heartbeat.", FamilyType::kGauge,
     &detail::pid},
    {"heartbeat_deadline_timestamp_seconds",
     "Unix time at which the process is timed out unless a newer heartbeat arrives: its last "
     "heartbeat plus the timeout, or for a job the next time it is due plus the grace, "
     "whichever is earlier.",
     FamilyType::kGauge, &detail::deadline_timestamp_seconds},
    {"heartbeat_schedule_info",
     "The schedule of a job, as configured, and its time zone; always 1.", FamilyType::kGauge,
     &detail::schedule_info, &detail::schedule_labels},
    {"heartbeat_exit_code",
     "Exit code of the job's last finished run (128 + n for signal n), from its final heartbeat.",
     FamilyType::kGauge, &detail::exit_code},
    {"heartbeat_last_run_duration_seconds",
     "Duration of the job's last finished run, from its final heartbeat.", FamilyType::kGauge,
     &detail::last_run_duration_seconds},
    {"heartbeat_last_success_timestamp_seconds",
     "Unix time at which the job's latest successful run started.", FamilyType::kGauge,
     &detail::last_success_timestamp_seconds},
}};

}  // namespace heartbeat_exporter
