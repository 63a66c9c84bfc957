// Stage 2, discover: lists every process to check, from the config and the heartbeat folders.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace heartbeat_exporter {

struct Discovery {
  std::vector<ProcessConfig> processes;  // sorted by key, keys unique
  // One line per folder that could not be listed and per file skipped because its name is
  // not valid UTF-8 (it could not be a Prometheus label value).
  std::vector<std::string> errors;
};

// Lists the processes to check on this scrape: every configured process, plus every *.json file
// directly in each heartbeat folder (names starting with "." are writers' temp files and are
// skipped). A configured process wins over a discovered file with the same key, and an earlier
// folder wins over a later one. Folders are listed afresh on every call; nothing is cached.
Discovery discover_processes(const Config& config);

}  // namespace heartbeat_exporter
