// The writer side: what a monitored program calls to write its heartbeat file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "heartbeat_exporter/reader.h"

namespace heartbeat_exporter {

namespace detail {
struct JobRun;
}

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
//
// A job (a program that runs, finishes and exits) reports its runs:
//
//   writer.start_run();             // "running", with started_at and last_success
//   ... writer.beat(); ...          // during a long run, as a daemon beats
//   writer.finish_run(exit_code);   // "completed" (0) or "failed", with the exit code
class HeartbeatWriter {
 public:
  // Throws std::invalid_argument when process_key is not a valid key.
  HeartbeatWriter(std::filesystem::path heartbeat_dir, std::string process_key);
  ~HeartbeatWriter();

  // Writes a heartbeat with status "running". Throws std::system_error (see write_heartbeat_file).
  void beat();
  // Writes a heartbeat with the given status; anything but "running" is ERROR_STATUS.
  void beat(std::string_view status);
  // Starts a run: writes a "running" heartbeat that also holds the run's start ("started_at") and
  // the start of the latest successful run ("last_success", carried forward from the heartbeat
  // the key had before, when that is valid). Each beat() until finish_run() holds them too.
  // Throws std::system_error (see write_heartbeat_file); the run is then not started.
  void start_run();
  // Ends the run with the job's exit code (0..255, 128 + n for signal n): writes its final
  // heartbeat, "completed" for 0 and "failed" otherwise, with exit_code, started_at,
  // duration_seconds and last_success (this run's start when it succeeded). The exporter does
  // not pid-check a final heartbeat: its process is meant to be gone. Throws
  // std::invalid_argument for another exit code, std::logic_error without a run in progress,
  // and std::system_error when the write fails (the run then stays in progress).
  void finish_run(int exit_code);
  // Removes the heartbeat file, for a clean shutdown: the process then shows as NO_HEARTBEAT
  // instead of STALE_PID. Throws std::system_error.
  void stop();

  const std::filesystem::path& path() const { return path_; }
  const std::string& process_key() const { return process_key_; }
  // The iteration of the last successful beat, 0 before the first.
  std::uint64_t iteration() const;

 private:
  ReadResult previous_heartbeat() const;

  std::filesystem::path dir_;
  std::string process_key_;
  std::filesystem::path path_;
  mutable std::mutex mutex_;
  std::uint64_t iteration_ = 0;
  std::unique_ptr<detail::JobRun> run_;  // the run in progress, if any
};

}  // namespace heartbeat_exporter
