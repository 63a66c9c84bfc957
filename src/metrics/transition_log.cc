#include "metrics/transition_log.h"

#include <algorithm>

#include "util/log.h"

namespace heartbeat_exporter {

void TransitionLog::record(const MonitorReport& report) {
  std::lock_guard lock(mutex_);
  // Concurrent scrapes can finish in any order; an older view must not undo a newer one's
  // log lines, or a state would seem to flap.
  if (report.checked_at < last_recorded_at_) return;
  last_recorded_at_ = report.checked_at;
  log_state_changes(report.results);
  remember_states(report.results);
  log_discovery_changes(report.discovery_errors);
  log_truncated_folders(report.folders);
}

void TransitionLog::log_state_changes(const std::vector<CheckResult>& results) const {
  // Both lists are sorted by key, so one walk over them pairs each process with its last state.
  auto by_key = [](const auto& entry, const std::string& key) { return entry.first < key; };
  for (const auto& result : results) {
    auto previous =
        std::lower_bound(last_states_.begin(), last_states_.end(), result.process.key, by_key);
    bool first_sight = previous == last_states_.end() || previous->first != result.process.key;
    // A healthy process seen for the first time is the normal case and not worth a line.
    if (first_sight && result.state == HealthState::kHealthy) continue;
    if (!first_sight && previous->second == result.state) continue;
    auto fields = {
        log::Field{"process", result.process.key},
        log::Field{"from", first_sight ? "unknown" : std::string(to_label_value(previous->second))},
        log::Field{"to", std::string(to_label_value(result.state))},
        log::Field{"reason", result.reason},
        log::Field{"detail", result.detail},
    };
    if (result.state == HealthState::kHealthy) {
      log::info("process state changed", fields);
    } else {
      log::warn("process state changed", fields);
    }
  }
}

void TransitionLog::remember_states(const std::vector<CheckResult>& results) {
  const bool same_processes = last_states_.size() == results.size() &&
                              std::equal(last_states_.begin(), last_states_.end(), results.begin(),
                                         [](const auto& entry, const CheckResult& result) {
                                           return entry.first == result.process.key;
                                         });
  if (same_processes) {
    // The common case: only states change, no key is copied.
    for (std::size_t i = 0; i < results.size(); ++i) {
      last_states_[i].second = results[i].state;
    }
  } else {
    auto is_monitored = [&](const std::string& key) {
      auto found = std::lower_bound(
          results.begin(), results.end(), key,
          [](const CheckResult& result, const std::string& k) { return result.process.key < k; });
      return found != results.end() && found->process.key == key;
    };
    for (const auto& [key, state] : last_states_) {
      if (!is_monitored(key)) log::info("process no longer monitored", {{"process", key}});
    }
    last_states_.clear();
    last_states_.reserve(results.size());
    for (const auto& result : results) {
      last_states_.emplace_back(result.process.key, result.state);
    }
  }
}

void TransitionLog::log_discovery_changes(const std::vector<std::string>& errors) {
  for (const auto& error : errors) {
    if (!last_discovery_errors_.contains(error)) log::warn("discovery failed", {{"err", error}});
  }
  for (const auto& error : last_discovery_errors_) {
    if (std::find(errors.begin(), errors.end(), error) == errors.end()) {
      log::info("discovery recovered", {{"was", error}});
    }
  }
  last_discovery_errors_ = {errors.begin(), errors.end()};
}

void TransitionLog::log_truncated_folders(const std::vector<FolderListing>& folders) {
  std::set<std::string> truncated;
  for (const auto& folder : folders) {
    if (!folder.truncated || !truncated.insert(folder.path.string()).second) continue;
    if (!last_truncated_folders_.contains(folder.path.string())) {
      log::warn("heartbeat folder holds more files than max_files; the rest are not read",
                {{"dir", folder.path.string()}, {"max_files", std::to_string(folder.max_files)}});
    }
  }
  for (const auto& dir : last_truncated_folders_) {
    if (!truncated.contains(dir))
      log::info("heartbeat folder back within max_files", {{"dir", dir}});
  }
  last_truncated_folders_ = std::move(truncated);
}

}  // namespace heartbeat_exporter
