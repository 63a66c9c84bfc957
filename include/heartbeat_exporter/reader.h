// Stage 3, read: reads and validates one heartbeat file (also used by programs that write them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "heartbeat_exporter/timestamp.h"

namespace heartbeat_exporter {

// A heartbeat file larger than this is not read: heartbeats are about 150 bytes, and a bound
// keeps one hostile file from costing the scrape its memory or time.
inline constexpr std::size_t kMaxHeartbeatBytes = 64 * 1024;

// A status or process_key longer than this is kept cut to this many bytes, ending in "…" (on a
// UTF-8 character boundary): what a heartbeat makes a reader hold, cache and show is bounded by
// this, not by the file. A cut status is never "running", just as the whole one was not.
inline constexpr std::size_t kMaxKeptFieldBytes = 256;

// The pid range Linux can hand out (PID_MAX_LIMIT on 64-bit).
inline constexpr std::int64_t kMaxPid = 4194304;

// One valid heartbeat, as a monitored process wrote it.
struct HeartbeatData {
  std::optional<std::string> process_key;
  std::int64_t pid = 0;
  Timestamp timestamp{};
  std::string status;
  std::optional<std::uint64_t> iteration;
  // Who holds `pid`, so that a reader in another pid namespace can find the process: the inode
  // number of /proc/<pid>/ns/pid and the start time in clock ticks since boot (field 22 of
  // /proc/<pid>/stat, the same from every namespace). Left out when the writer cannot read them.
  std::optional<std::uint64_t> pid_namespace{};
  std::optional<std::uint64_t> start_ticks{};

  // A job's run (heartbeatctl run, HeartbeatWriter::start_run). exit_code marks a run's final
  // heartbeat, whose process is meant to be gone, and comes with its duration (the file's
  // "duration_seconds", kept to the microsecond); started_at and last_success (the start of the
  // latest successful run) are on a run's heartbeats from its start.
  // (Initialized, so that code that lists the fields above need not list these.)
  std::optional<int> exit_code{};
  std::optional<Timestamp> started_at{};
  std::optional<std::chrono::microseconds> duration{};
  std::optional<Timestamp> last_success{};
};

// The statuses of a run's final heartbeat. "completed" is, besides "running", the one healthy
// status; "failed", like any other, is an error.
inline constexpr std::string_view kStatusCompleted = "completed";
inline constexpr std::string_view kStatusFailed = "failed";

// The largest exit code a heartbeat may report: a process's exit status is 8 bits.
inline constexpr int kMaxExitCode = 255;
// The longest run a heartbeat may report, about 31 years: a bound that keeps every duration
// exact in microseconds (below 2^53 of them) in the file's double.
inline constexpr double kMaxDurationSeconds = 1e9;

// Why a heartbeat could not be read. Each value has a stable snake_case name (to_string) that is
// used as the `reason` label of heartbeat_exporter_read_errors_total.
enum class ReadError {
  kMissing,           // the file does not exist
  kUnreadable,        // open/read failed (permissions, I/O error, ...)
  kNotRegularFile,    // FIFO, device, socket, directory
  kSymlink,           // a symbolic link in a heartbeat folder that does not follow them
  kTooLarge,          // larger than kMaxHeartbeatBytes
  kInvalidJson,       // not well-formed JSON
  kNotObject,         // well-formed, but the top level is not an object
  kMissingField,      // pid, timestamp or status is absent
  kInvalidField,      // a field has the wrong type or is out of range, or appears twice
  kInvalidTimestamp,  // timestamp, started_at or last_success is a string but not one
                      // parse_timestamp accepts
};

inline constexpr ReadError kAllReadErrors[] = {
    ReadError::kMissing,          ReadError::kUnreadable,   ReadError::kNotRegularFile,
    ReadError::kSymlink,          ReadError::kTooLarge,     ReadError::kInvalidJson,
    ReadError::kNotObject,        ReadError::kMissingField, ReadError::kInvalidField,
    ReadError::kInvalidTimestamp,
};

std::string_view to_string(ReadError error);

struct ReadFailure {
  ReadError reason;
  std::string message;  // for people: what was wrong, e.g. "field \"pid\": expected an integer"
};

// Exactly one of heartbeat and failure is set.
struct ReadResult {
  std::optional<HeartbeatData> heartbeat;
  std::optional<ReadFailure> failure;

  static ReadResult success(HeartbeatData data) { return {std::move(data), std::nullopt}; }
  static ReadResult fail(ReadError reason, std::string message) {
    return {std::nullopt, ReadFailure{reason, std::move(message)}};
  }
  bool ok() const { return heartbeat.has_value(); }
};

// Reads and validates one heartbeat file. Follows a symbolic link (the caller chose the path),
// but opens nothing that is not a regular file of at most kMaxHeartbeatBytes: its type and size
// are checked first. Never blocks on a FIFO, never throws: every problem becomes a ReadFailure.
ReadResult read_heartbeat(const std::filesystem::path& path);

// Validates heartbeat JSON that is already in memory (the part of read_heartbeat after I/O).
// Any nesting depth is safe: parsing is iterative.
ReadResult parse_heartbeat(std::string_view json);

}  // namespace heartbeat_exporter
