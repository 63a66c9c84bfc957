#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

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
  // One answer per pid, in order. The default asks lookup() for each.
  virtual std::vector<ProcessInfo> lookup_all(std::span<const std::int64_t> pids) const;
};

// The real one: kill(pid, 0) for liveness, /proc/<pid>/stat for zombie state and start time.
//
// lookup_all() answers the same, cheaper: reading /proc/<pid>/stat for every live process on
// every scrape is costly for a large fleet, so it keeps a pidfd for each live process it has seen
// (pidfd_open(2)) and remembers its start time. A pidfd refers to one process, not to a pid number,
// and polls readable once that process has exited (zombie or reaped), so one poll() over all of
// them tells which processes are still the same running ones; only the others are looked up again.
// Pidfds of pids no longer asked about are closed, and at most max_tracked are kept (bounded by
// RLIMIT_NOFILE at construction).
class SystemProcessTable final : public ProcessTable {
 public:
  // The wall clock minus the time since boot, which changes only when the wall clock is stepped.
  using ClockOffset = std::function<std::chrono::microseconds()>;

  // `clock_offset` (empty: CLOCK_REALTIME minus CLOCK_BOOTTIME) is asked at construction and for
  // every start time, so that tests can step the wall clock; lookups may ask it from several
  // threads at once.
  explicit SystemProcessTable(std::filesystem::path proc_root = "/proc",
                              ClockOffset clock_offset = {});
  ~SystemProcessTable() override;
  SystemProcessTable(const SystemProcessTable&) = delete;
  SystemProcessTable& operator=(const SystemProcessTable&) = delete;

  ProcessInfo lookup(std::int64_t pid) const override;
  std::vector<ProcessInfo> lookup_all(std::span<const std::int64_t> pids) const override;

  // How many processes are watched through a pidfd now.
  std::size_t tracked() const;

 private:
  struct Stat {
    Liveness liveness = Liveness::kGone;
    std::optional<std::uint64_t> start_ticks;
  };
  struct Tracked {
    int pidfd = -1;
    std::optional<std::uint64_t> start_ticks;
  };
  Stat lookup_stat(std::int64_t pid) const;
  std::optional<Timestamp> start_time(std::optional<std::uint64_t> start_ticks) const;

  std::filesystem::path proc_root_;
  std::optional<Timestamp> boot_time_;  // btime from /proc/stat
  long clock_ticks_per_second_;
  ClockOffset clock_offset_;
  std::chrono::microseconds realtime_minus_boottime_;  // at construction, to detect clock steps
  std::size_t max_tracked_;

  mutable std::mutex tracked_mutex_;
  mutable std::unordered_map<std::int64_t, Tracked> tracked_;
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
