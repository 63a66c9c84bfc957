#pragma once

#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "check/models.h"

namespace heartbeat_exporter {

// Logs what changed between scrapes: a process's state, a process no longer monitored, a
// heartbeat folder that failed or recovered, or that went over or back under its max_files. One
// line per change, never one per scrape. Thread-safe: concurrent scrapes may record in any order.
class TransitionLog {
 public:
  void record(const MonitorReport& report);

 private:
  // The steps of record(), called with mutex_ held.
  void log_state_changes(const std::vector<CheckResult>& results) const;
  void remember_states(const std::vector<CheckResult>& results);
  void log_discovery_changes(const std::vector<std::string>& errors);
  void log_truncated_folders(const std::vector<FolderListing>& folders);

  // Guards the last recorded view below: it only ever moves forward in checked_at, so that an
  // older report finishing late cannot undo a newer one's lines (a state would seem to flap).
  std::mutex mutex_;
  Timestamp last_recorded_at_{};
  // The state of each process at the last recorded scrape, sorted by key.
  std::vector<std::pair<std::string, HealthState>> last_states_;
  std::set<std::string> last_discovery_errors_;
  std::set<std::string> last_truncated_folders_;
};

}  // namespace heartbeat_exporter
