// Stage 1, config: loads and validates the config file into the processes and folders to watch.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/schedule.h"

namespace heartbeat_exporter {

// Where heartbeat_exporter and heartbeatctl check read the config without --config.file.
inline constexpr const char* kDefaultConfigFile = "/etc/heartbeat_exporter/config.json";

// Static labels added to every series of a process, e.g. {"team": "payments"}.
using Labels = std::map<std::string, std::string>;

inline constexpr double kDefaultTimeoutSeconds = 60;
// How late a scheduled job's heartbeat may be after the time it is due.
inline constexpr double kDefaultGraceSeconds = 300;

// Heartbeat files read from one folder at most, unless it sets max_files: a bound on what
// whoever can write to the folder can make one scrape cost.
inline constexpr std::size_t kDefaultMaxFiles = 100000;

// One monitored process, configured by name or discovered in a heartbeat folder.
struct ProcessConfig {
  std::string key;                       // the `process` label
  std::filesystem::path heartbeat_path;  // absolute
  double timeout_seconds = kDefaultTimeoutSeconds;
  bool check_pid = true;
  Labels labels;
  // Set for a job that is due on a schedule ("schedule" and "timezone"); null for a daemon.
  // Shared by every process of a folder.
  std::shared_ptr<const Schedule> schedule{};
  double grace_seconds = kDefaultGraceSeconds;  // >= 0; used only with a schedule
};

// A folder whose *.json files are each one process, keyed by file name without ".json".
struct HeartbeatDirConfig {
  std::filesystem::path path;  // absolute
  double timeout_seconds = kDefaultTimeoutSeconds;
  bool check_pid = true;
  Labels labels;
  std::shared_ptr<const Schedule> schedule{};  // as in ProcessConfig
  double grace_seconds = kDefaultGraceSeconds;
  // Whether a heartbeat file that is a symbolic link is followed. Off by default: whoever can
  // write to the folder could otherwise make the exporter read any file it can.
  bool follow_symlinks = false;
  std::size_t max_files = kDefaultMaxFiles;  // >= 1
};

struct Config {
  std::filesystem::path file;  // where it was loaded from
  double default_timeout_seconds = kDefaultTimeoutSeconds;
  std::vector<ProcessConfig> processes;            // in key order
  std::vector<HeartbeatDirConfig> heartbeat_dirs;  // in file order
};

// Exactly one of config and error is set. error is one line:
//   <file>: <field path>: <what is wrong>
// e.g. "/etc/heartbeat_exporter/config.json: processes.my_server.timeout_secs: unknown field".
struct ConfigResult {
  std::optional<Config> config;
  std::string error;
};

// Reads and validates a config file. Relative heartbeat paths resolve against the file's folder.
// Never throws.
ConfigResult load_config(const std::filesystem::path& file);

// The validation part of load_config, for text already in memory. `file` is used in messages
// and to resolve relative paths.
ConfigResult parse_config(std::string_view json, const std::filesystem::path& file);

// Why `name` cannot be a static label name, in one line, or nullopt when it can. Refused:
// names outside Prometheus's rules, the `__` prefix that Prometheus reserves, the names this
// exporter sets (`process`, `state`), the names that histograms and summaries give meaning
// (`le`, `quantile`: promtool check metrics refuses them on a gauge), and the target labels that
// Prometheus sets on every series (`job`, `instance`: with honor_labels a static one would
// replace the target's) with the `exported_` names it renames clashing labels to. The line
// suggests another name where one fits.
std::optional<std::string> static_label_name_problem(std::string_view name);

// No static_label_name_problem.
bool is_valid_static_label_name(std::string_view name);

}  // namespace heartbeat_exporter
