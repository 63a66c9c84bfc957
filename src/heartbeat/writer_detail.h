#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string_view>

#include "heartbeat_exporter/reader.h"
#include "heartbeat_exporter/writer.h"
#include "util/bounded_file.h"

namespace heartbeat_exporter::detail {

// A heartbeat folder opened for writing: its path is resolved once, one component at a time
// (as systemd's chase() does), and everything after that (temp file, rename, unlink, reading the
// previous heartbeat) happens relative to the folder's descriptor, so that nobody can redirect a
// step by swapping a folder on the path in between.
//
// Run as root, a path that follows a symbolic link across an "unsafe path transition" (the rule
// of systemd-tmpfiles) is refused: from a folder owned by a user other than root to a link owned
// by someone else, or from a link owned by a user other than root to anything that user does not
// own. Whoever can plant such a link in a folder others can write to could otherwise make root
// replace or delete a file anywhere.
class HeartbeatFolder {
 public:
  enum class Missing { kCreate, kFail };

  // Opens `dir`, creating missing folders (mode 0777 minus the umask) with Missing::kCreate.
  // Throws std::system_error naming `dir`: ENOENT when a folder is missing and not created,
  // EPERM for an unsafe path transition.
  static HeartbeatFolder open(const std::filesystem::path& dir, Missing missing);

  // Writes <key>.json atomically: a temp file with an unpredictable name starting with "." (so
  // that names planted in advance cannot block it), then renameat() over the target. Throws
  // std::system_error naming the target; the previous heartbeat then stays as it was.
  void write(std::string_view key, const HeartbeatData& data) const;
  // Removes <key>.json; one that is already gone is fine. Throws std::system_error.
  void remove(std::string_view key) const;
  // Reads <key>.json without following a symlink (that is `symlink`, and nothing is opened).
  ReadResult read(std::string_view key) const;

  int fd() const { return fd_.get(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  HeartbeatFolder(FileDescriptor fd, std::filesystem::path path)
      : fd_(std::move(fd)), path_(std::move(path)) {}

  FileDescriptor fd_;  // O_PATH
  std::filesystem::path path_;
};

// A job's run in progress, as its heartbeats tell it: what HeartbeatWriter::start_run and
// heartbeatctl run share.
struct JobRun {
  Timestamp started_at;
  // The duration is measured on this clock, which no step of the system clock moves.
  std::chrono::steady_clock::time_point started;
  std::optional<Timestamp> last_success;

  // A run starting now, carrying last_success forward from `previous`, the key's heartbeat
  // before the run, when it was read (a running heartbeat left by a killed run carries it too).
  static JobRun start(const ReadResult& previous);
  // Adds started_at and last_success to a heartbeat written during the run.
  void add_to(HeartbeatData& data) const;
  // Makes `data` the run's final heartbeat, the run having ended at `ended` with exit_code
  // (0..255): status "completed" for 0, else "failed", with exit_code, the duration, started_at
  // and last_success, which is this run's start when it succeeded.
  void finish(HeartbeatData& data, int exit_code,
              std::chrono::steady_clock::time_point ended) const;
};

}  // namespace heartbeat_exporter::detail
