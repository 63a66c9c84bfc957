// The writer side: what a monitored program calls to write its heartbeat file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>

#include "heartbeat_exporter/reader.h"

namespace heartbeat_exporter {

// Process keys become file names, so they are restricted to [A-Za-z0-9_.-]{1,128} and may not
// start with "." (which also rules out "." and "..").
bool is_valid_process_key(std::string_view key);

// The heartbeat file for a key: <dir>/<key>.json.
std::filesystem::path heartbeat_file_path(const std::filesystem::path& dir, std::string_view key);

// Renders a heartbeat in the file format, e.g.
// {"process_key":"my_server","pid":12345,"timestamp":"2026-02-05T06:17:29.601049+00:00",
//  "status":"running","iteration":42}
std::string serialize_heartbeat(const HeartbeatData& data);

// Writes <dir>/<key>.json atomically: a temp file whose name starts with "." in the same folder,
// then rename() over the target, so that a reader sees the old file or the new one, never part
// of one. Creates dir when missing. On failure the previous heartbeat is left as it was and
// std::system_error is thrown; its what() names the path and the system's error text.
// Throws std::invalid_argument for an invalid key, or a key or status that is not UTF-8.
void write_heartbeat_file(const std::filesystem::path& dir, std::string_view key,
                          const HeartbeatData& data);

// Removes <dir>/<key>.json; a file that is already gone is fine. Throws std::system_error.
void remove_heartbeat_file(const std::filesystem::path& dir, std::string_view key);

// What a monitored program links to prove it is alive:
//
//   heartbeat_exporter::HeartbeatWriter writer("/var/lib/heartbeats", "my_server");
//   while (running) { do_work(); writer.beat(); }
//   writer.stop();
//
// Each beat() writes the current time (UTC, microseconds), this process's pid, the status, an
// iteration counter that starts at 1 and grows by one per beat, and, where /proc tells them,
// this process's pid namespace and start ticks (so that an exporter in another pid namespace
// finds it). Safe to call from several threads.
class HeartbeatWriter {
 public:
  // Throws std::invalid_argument when process_key is not a valid key.
  HeartbeatWriter(std::filesystem::path heartbeat_dir, std::string process_key);

  // Writes a heartbeat with status "running". Throws std::system_error (see write_heartbeat_file).
  void beat();
  // Writes a heartbeat with the given status; anything but "running" is ERROR_STATUS.
  void beat(std::string_view status);
  // Removes the heartbeat file, for a clean shutdown: the process then shows as NO_HEARTBEAT
  // instead of STALE_PID. Throws std::system_error.
  void stop();

  const std::filesystem::path& path() const { return path_; }
  const std::string& process_key() const { return process_key_; }
  // The iteration of the last successful beat, 0 before the first.
  std::uint64_t iteration() const;

 private:
  std::filesystem::path dir_;
  std::string process_key_;
  std::filesystem::path path_;
  mutable std::mutex mutex_;
  std::uint64_t iteration_ = 0;
};

}  // namespace heartbeat_exporter
