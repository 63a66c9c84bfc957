#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
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
  std::optional<Timestamp> start_time{};
  // The same in clock ticks since boot (field 22 of /proc/<pid>/stat), when known: equal to a
  // heartbeat's start_ticks exactly when it is the process that wrote them.
  std::optional<std::uint64_t> start_ticks{};
};

// A pid in another pid namespace, with the start ticks that tell its process from every later
// holder of the pid: the identity a heartbeat from a container carries (see HeartbeatData).
// Namespace inodes are reused once a namespace dies and two processes can start in the same
// tick, so it is the three together, never one of them alone.
struct NamespacedPid {
  std::uint64_t pid_namespace = 0;
  std::int64_t pid = 0;
  std::uint64_t start_ticks = 0;
  auto operator<=>(const NamespacedPid&) const = default;
};

// What the exporter sees of pid namespaces.
struct PidNamespaceView {
  std::optional<std::uint64_t> own{};  // the exporter's pid namespace, when /proc tells it
  // It runs in the initial pid namespace and its /proc hides nothing: every process is there.
  bool sees_all = false;
};

// What the checker knows about running processes. Tests substitute a fake.
class ProcessTable {
 public:
  virtual ~ProcessTable() = default;
  virtual ProcessInfo lookup(std::int64_t pid) const = 0;
  // One answer per pid, in order. The default asks lookup() for each.
  virtual std::vector<ProcessInfo> lookup_all(std::span<const std::int64_t> pids) const;

  // The exporter's pid namespace. The default knows none, so that every heartbeat that names a
  // pid namespace has its pid check skipped.
  virtual PidNamespaceView pid_namespaces() const { return {}; }
  // One answer per pid of another namespace, in order: the process that holds it, kGone when
  // there is none. Asked only when pid_namespaces().sees_all. The default finds none.
  virtual std::vector<ProcessInfo> lookup_namespaced(std::span<const NamespacedPid> pids) const;
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
//
// pid_namespaces() sees all when <proc_root>/self/ns/pid is the initial pid namespace and
// <proc_root>/1/stat can be read (no hidepid). lookup_namespaced() then finds a pid of another
// namespace as the host process whose innermost NSpid (/proc/<pid>/status) is that pid, whose
// start ticks are equal, and whose namespace inode (/proc/<pid>/ns/pid) is equal where it can be
// read (that needs ptrace rights). Reading a process's status costs 30-50 us, so answers are
// cached: a found process with its pidfd (polled as above), a missing one or a zombie (whose stat
// alone is read again, until it is reaped) for as long as it is asked about: a process with
// those start ticks cannot appear later. /proc is scanned at most once per call, and only when
// some pid is in neither cache. Two processes with the same inner pid and start tick in
// namespaces the exporter cannot read are told apart by nothing: one of them is taken.
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

  PidNamespaceView pid_namespaces() const override;
  std::vector<ProcessInfo> lookup_namespaced(std::span<const NamespacedPid> pids) const override;

  // How many processes are watched through a pidfd now.
  std::size_t tracked() const;
  // How many times lookup_namespaced() has read through /proc.
  std::size_t namespace_scans() const;

 private:
  struct Stat {
    Liveness liveness = Liveness::kGone;
    std::optional<std::uint64_t> start_ticks;
  };
  struct Tracked {
    int pidfd = -1;
    std::optional<std::uint64_t> start_ticks;
  };
  struct Mapped {
    int pidfd = -1;
    std::int64_t host_pid = 0;
  };
  struct Found {
    std::int64_t host_pid = 0;
    Liveness liveness = Liveness::kAlive;
    bool namespace_read = false;  // its pid namespace was read and is equal
  };
  Stat lookup_stat(std::int64_t pid) const;
  std::map<NamespacedPid, Found> scan_namespaces(const std::set<NamespacedPid>& missing) const;
  ProcessInfo info(Liveness liveness, std::uint64_t start_ticks) const;
  std::optional<Timestamp> start_time(std::optional<std::uint64_t> start_ticks) const;

  std::filesystem::path proc_root_;
  std::optional<Timestamp> boot_time_;  // btime from /proc/stat
  long clock_ticks_per_second_;
  ClockOffset clock_offset_;
  std::chrono::microseconds realtime_minus_boottime_;  // at construction, to detect clock steps
  std::size_t max_tracked_;
  std::optional<std::uint64_t> own_namespace_;  // of <proc_root>/self, at construction

  // Guards both caches and the scan count; max_tracked_ bounds the pidfds of both together.
  mutable std::mutex tracked_mutex_;
  mutable std::unordered_map<std::int64_t, Tracked> tracked_;
  mutable std::map<NamespacedPid, Mapped> namespaced_;
  // Gone or a zombie (with its host pid) when last looked at: such a process never runs again.
  mutable std::map<NamespacedPid, Found> ended_;
  mutable std::size_t namespace_scans_ = 0;
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
