#pragma once

#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>

#include "heartbeat_exporter/reader.h"
#include "util/bounded_file.h"

namespace heartbeat_exporter::detail {

// One heartbeat file to read: `name` in the folder open as dir_fd (AT_FDCWD: `name` is a path),
// with `path` naming it in messages. `name` and `path` must outlive the read.
struct HeartbeatFile {
  int dir_fd;
  const char* name;
  Symlinks symlinks;
  const std::filesystem::path& path;
};

// read_heartbeat for a HeartbeatFile (see read_bounded_file_at for `checked`), also telling the
// opened file's stamp when its content was read: the part of the reader that HeartbeatCache and
// heartbeatctl need beyond the public API.
ReadResult read_heartbeat(const HeartbeatFile& file, FileStamp* stamp,
                          const struct stat* checked = nullptr);

// A duration_seconds of at most kMaxDurationSeconds to the microsecond, half up; the Python
// reader rounds the same double the same way.
inline std::chrono::microseconds round_to_microseconds(double seconds) {
  return std::chrono::microseconds(static_cast<std::int64_t>(std::floor(seconds * 1e6 + 0.5)));
}

}  // namespace heartbeat_exporter::detail
