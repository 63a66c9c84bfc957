#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>

#include "heartbeat_exporter/timestamp.h"

namespace heartbeat_exporter {

enum class Liveness {
  kAlive,   // running, or running under another user (kill() gave EPERM)
  kGone,    // no such process
  kZombie,  // exited, not yet reaped: it will never beat again
};

struct ProcessInfo {
  Liveness liveness = Liveness::kGone;
  // When the process holding the pid started; nullopt when /proc does not tell (hidepid, no
  // /proc), in which case pid reuse cannot be detected and only liveness counts.
  std::optional<Timestamp> start_time;
};

// What the checker knows about running processes. Tests substitute a fake.
class ProcessTable {
 public:
  virtual ~ProcessTable() = default;
  virtual ProcessInfo lookup(std::int64_t pid) const = 0;
};

// The real one: kill(pid, 0) for liveness, /proc/<pid>/stat for zombie state and start time.
class SystemProcessTable final : public ProcessTable {
 public:
  explicit SystemProcessTable(std::filesystem::path proc_root = "/proc");
  ProcessInfo lookup(std::int64_t pid) const override;

 private:
  std::filesystem::path proc_root_;
  std::optional<Timestamp> boot_time_;  // btime from /proc/stat
  long clock_ticks_per_second_;
  std::chrono::microseconds realtime_minus_boottime_;  // at construction, to detect clock steps
};

// Where "now" comes from. Tests substitute a fake and never sleep.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp now() const = 0;
};

class SystemClock final : public Clock {
 public:
  Timestamp now() const override;
};

}  // namespace heartbeat_exporter
