// Stage 2, discover: lists every process to check, from the config and the heartbeat folders.
#pragma once

#include <fcntl.h>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "util/bounded_file.h"

namespace heartbeat_exporter {

// Where one process's heartbeat is read from. A file found in a heartbeat folder is read
// relative to the folder's descriptor, so that the folder is resolved once per scrape and a
// file name can never lead elsewhere; a configured heartbeat_path is read as a path.
struct HeartbeatSource {
  int dir_fd = AT_FDCWD;        // the folder (owned by the Discovery), or AT_FDCWD for a path
  std::size_t name_offset = 0;  // where the name to open starts in heartbeat_path.native()
  // Configured paths are followed (the administrator chose them); files in a folder only when
  // the folder says follow_symlinks.
  bool follow_symlinks = true;
};

// One heartbeat folder of the config, as this discovery found it.
struct FolderListing {
  std::filesystem::path path;
  std::size_t max_files = kDefaultMaxFiles;
  // It held more than max_files heartbeat files: only the first max_files in listing order (not
  // name order) were taken, and the rest are not read.
  bool truncated = false;
};

struct Discovery {
  std::vector<ProcessConfig> processes;  // sorted by key, keys unique
  std::vector<HeartbeatSource> sources;  // where each of `processes` is read from, same order
  // One line per folder that could not be listed and per file skipped because its name is
  // not valid UTF-8 (it could not be a Prometheus label value).
  std::vector<std::string> errors;
  std::vector<FolderListing> folders;  // every heartbeat folder of the config, in config order
  // The folders that `sources` read from, open for as long as the Discovery lives.
  std::vector<detail::FileDescriptor> open_folders;
};

// Why users other than root can write to a heartbeat folder (its owner is not root, or its mode
// lets its group or everyone write), e.g. "owner uid 1000, mode 0775"; nullopt when only root
// can, or when the folder cannot be inspected.
std::optional<std::string> writable_by_others(const std::filesystem::path& dir);

// Lists the processes to check on this scrape: every configured process, plus every *.json file
// directly in each heartbeat folder (names starting with "." are writers' temp files and are
// skipped), up to the folder's max_files. A configured process wins over a discovered file with
// the same key, and an earlier folder wins over a later one. Folders are listed afresh on every
// call; nothing is cached.
Discovery discover_processes(const Config& config);

}  // namespace heartbeat_exporter
