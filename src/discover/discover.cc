#include "discover/discover.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <utility>

#include "util/bounded_file.h"
#include "util/text.h"
#include "util/utf8.h"

namespace heartbeat_exporter {
namespace {

constexpr std::string_view kHeartbeatSuffix = ".json";

// The key a file name stands for, or nullopt when the file is not a heartbeat. Names starting
// with "." are the writers' temp files; the rule also rules out ".json", whose key would be empty.
std::optional<std::string> key_of(std::string_view name) {
  if (name.starts_with(".") || !name.ends_with(kHeartbeatSuffix)) return std::nullopt;
  return std::string(name.substr(0, name.size() - kHeartbeatSuffix.size()));
}

struct Listing {
  std::vector<ProcessConfig> processes;
  std::vector<std::string> errors;
  detail::FileDescriptor folder;
  std::size_t name_offset = 0;  // of the file names in the processes' heartbeat_path
  bool truncated = false;
};

// Files are not stat()ed here: the reader decides what kind of file each one is, so that a
// FIFO or folder named x.json shows up as a process whose read fails rather than vanishing.
// readdir() directly: std::filesystem::directory_iterator builds and parses a path per entry,
// which in a large folder costs more than reading the (cached) heartbeats.
Listing list_heartbeat_dir(const HeartbeatDirConfig& dir) {
  auto fail = [&](int error) {
    Listing failed;
    failed.errors.push_back("cannot list heartbeat folder " + detail::quoted(dir.path) + ": " +
                            detail::error_text(error));
    return failed;
  };
  Listing listing;
  listing.folder =
      detail::FileDescriptor(::open(dir.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (listing.folder.get() < 0) return fail(errno);
  // fdopendir() takes over the descriptor it is given; the folder's own stays open for the reads.
  const int listed = ::fcntl(listing.folder.get(), F_DUPFD_CLOEXEC, 0);
  if (listed < 0) return fail(errno);
  std::unique_ptr<DIR, int (*)(DIR*)> stream(::fdopendir(listed), &::closedir);
  if (!stream) {
    const int error = errno;
    ::close(listed);
    return fail(error);
  }
  std::string prefix = dir.path.native();
  if (!prefix.ends_with('/')) prefix += '/';
  listing.name_offset = prefix.size();
  std::size_t files = 0;
  while (true) {
    errno = 0;
    const dirent* entry = ::readdir(stream.get());
    if (entry == nullptr) {
      // A listing cut short would make the missing files look deleted, so it counts as none.
      if (errno != 0) return fail(errno);
      break;
    }
    const std::string_view name = entry->d_name;
    auto key = key_of(name);
    if (!key) continue;
    // Counting every candidate, skipped names included, bounds the errors as well.
    if (files == dir.max_files) {
      listing.truncated = true;
      break;
    }
    ++files;
    // Prometheus rejects a whole scrape whose label values are not UTF-8, and the file name
    // becomes the `process` label, so one such name must cost only itself.
    if (!detail::is_valid_utf8(*key)) {
      // The name is not UTF-8, so every byte outside printable ASCII is spelled out.
      listing.errors.push_back(
          "skipping heartbeat file \"" +
          detail::escape_bytes(name, detail::EscapedBytes::kAllButPrintableAscii) + "\" in " +
          detail::quoted(dir.path) + ": its name is not valid UTF-8");
      continue;
    }
    listing.processes.push_back(ProcessConfig{.key = std::move(*key),
                                              .heartbeat_path = prefix + std::string(name),
                                              .timeout_seconds = dir.timeout_seconds,
                                              .check_pid = dir.check_pid,
                                              .labels = dir.labels,
                                              .schedule = dir.schedule,
                                              .grace_seconds = dir.grace_seconds});
  }
  return listing;
}

}  // namespace

std::optional<std::string> writable_by_others(const std::filesystem::path& dir) {
  struct stat info {};
  if (::stat(dir.c_str(), &info) != 0) return std::nullopt;
  if (info.st_uid == 0 && (info.st_mode & (S_IWGRP | S_IWOTH)) == 0) return std::nullopt;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
  return "owner uid " + std::to_string(info.st_uid) + ", mode " + mode;
}

Discovery discover_processes(const Config& config) {
  Discovery discovery;
  std::vector<ProcessConfig> found = config.processes;
  std::vector<HeartbeatSource> sources(found.size());
  for (const auto& dir : config.heartbeat_dirs) {
    auto listing = list_heartbeat_dir(dir);
    for (auto& error : listing.errors) discovery.errors.push_back(std::move(error));
    discovery.folders.push_back(FolderListing{dir.path, dir.max_files, listing.truncated});
    if (listing.processes.empty()) continue;
    const HeartbeatSource source{.dir_fd = listing.folder.get(),
                                 .name_offset = listing.name_offset,
                                 .follow_symlinks = dir.follow_symlinks};
    discovery.open_folders.push_back(std::move(listing.folder));
    sources.insert(sources.end(), listing.processes.size(), source);
    found.insert(found.end(), std::make_move_iterator(listing.processes.begin()),
                 std::make_move_iterator(listing.processes.end()));
  }
  // Sorting indices moves no ProcessConfig around. A stable sort keeps the order they were
  // found in among equal keys, and the first of them is kept: configured processes and
  // earlier folders win.
  std::vector<std::size_t> order(found.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return found[a].key < found[b].key; });
  discovery.processes.reserve(found.size());
  discovery.sources.reserve(found.size());
  for (std::size_t i : order) {
    if (!discovery.processes.empty() && discovery.processes.back().key == found[i].key) continue;
    discovery.processes.push_back(std::move(found[i]));
    discovery.sources.push_back(sources[i]);
  }
  return discovery;
}

}  // namespace heartbeat_exporter
