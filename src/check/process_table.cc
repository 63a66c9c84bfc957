#include "check/process_table.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "heartbeat_exporter/reader.h"
#include "util/bounded_file.h"
#include "util/parse_integer.h"
#include "util/proc_stat.h"

namespace heartbeat_exporter {
namespace {

// /proc/stat has a line per CPU; 1 MiB is room for thousands of them.
constexpr std::size_t kMaxProcStatBytes = 1 << 20;

// Far beyond any real uptime and far below what would overflow a Timestamp.
constexpr std::uint64_t kMaxUptimeSeconds = 1000ULL * 366 * 24 * 3600;

using detail::kMaxPidStatBytes;
using detail::parse_integer;

struct PidStat {
  char state = '?';
  std::uint64_t start_ticks = 0;
};

std::optional<PidStat> parse_pid_stat(std::string_view line) {
  auto state = detail::proc_stat_field(line, 3);
  if (!state || state->size() != 1) return std::nullopt;
  auto ticks = detail::proc_start_ticks(line);
  if (!ticks) return std::nullopt;
  return PidStat{(*state)[0], *ticks};
}

// btime is read once; wall-clock steps after that are corrected for in lookup().
std::optional<Timestamp> read_boot_time(const std::filesystem::path& proc_stat) {
  auto file = detail::read_bounded_file(proc_stat, kMaxProcStatBytes);
  if (file.status != detail::BoundedFile::Status::kOk) return std::nullopt;
  auto seconds = detail::proc_boot_time(file.content);
  if (!seconds) return std::nullopt;
  return Timestamp{std::chrono::seconds{*seconds}};
}

// The wall clock minus the time since boot: constant unless someone steps the wall clock.
std::chrono::microseconds realtime_minus_boottime() {
  timespec real{}, boot{};
  ::clock_gettime(CLOCK_REALTIME, &real);
  ::clock_gettime(CLOCK_BOOTTIME, &boot);
  auto to_micros = [](const timespec& t) {
    return std::chrono::seconds{t.tv_sec} + std::chrono::duration_cast<std::chrono::microseconds>(
                                                std::chrono::nanoseconds{t.tv_nsec});
  };
  return to_micros(real) - to_micros(boot);
}

// File descriptors kept free for everything but pidfds: connections and heartbeat reads.
constexpr rlim_t kReservedFileDescriptors = 1024;

std::size_t max_tracked_processes() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur == RLIM_INFINITY) return static_cast<std::size_t>(kMaxPid);
  if (limit.rlim_cur <= kReservedFileDescriptors) return 0;
  return static_cast<std::size_t>(limit.rlim_cur - kReservedFileDescriptors);
}

// glibc 2.36 has a wrapper, older ones do not; the system call is the same.
int pidfd_open(std::int64_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0U));
}

// A pidfd polls readable once its process has exited, reaped or not.
bool still_running(int pidfd) {
  pollfd poll{pidfd, POLLIN, 0};
  return ::poll(&poll, 1, 0) == 0;
}

// Of the processes cached with a pidfd, drops (closing their pidfds) those no longer wanted and
// those that have exited, and returns the keys of the rest: one poll() for all of them. If it
// fails, all are dropped, to be looked up afresh.
template <typename Cache, typename Wanted>
std::vector<typename Cache::key_type> poll_cached(Cache& cache, const Wanted& wanted) {
  std::vector<pollfd> polls;
  std::vector<typename Cache::key_type> polled;
  polls.reserve(cache.size());
  polled.reserve(cache.size());
  for (auto it = cache.begin(); it != cache.end();) {
    if (!wanted.contains(it->first)) {
      ::close(it->second.pidfd);
      it = cache.erase(it);
      continue;
    }
    polls.push_back({it->second.pidfd, POLLIN, 0});
    polled.push_back(it->first);
    ++it;
  }
  const int ready = polls.empty() ? 0 : ::poll(polls.data(), polls.size(), 0);
  std::vector<typename Cache::key_type> running;
  running.reserve(polled.size());
  for (std::size_t i = 0; i < polls.size(); ++i) {
    if (ready >= 0 && polls[i].revents == 0) {
      running.push_back(polled[i]);
      continue;
    }
    auto exited = cache.find(polled[i]);
    ::close(exited->second.pidfd);
    cache.erase(exited);
  }
  return running;
}

}  // namespace

std::vector<ProcessInfo> ProcessTable::lookup_namespaced(
    std::span<const NamespacedPid> pids) const {
  return std::vector<ProcessInfo>(pids.size());
}

std::vector<ProcessInfo> ProcessTable::lookup_all(std::span<const std::int64_t> pids) const {
  std::vector<ProcessInfo> infos;
  infos.reserve(pids.size());
  for (std::int64_t pid : pids) infos.push_back(lookup(pid));
  return infos;
}

SystemProcessTable::SystemProcessTable(std::filesystem::path proc_root, ClockOffset clock_offset)
    : proc_root_(std::move(proc_root)),
      boot_time_(read_boot_time(proc_root_ / "stat")),
      clock_ticks_per_second_(::sysconf(_SC_CLK_TCK)),
      clock_offset_(clock_offset ? std::move(clock_offset) : realtime_minus_boottime),
      realtime_minus_boottime_(clock_offset_()),
      max_tracked_(max_tracked_processes()),
      own_namespace_(detail::read_pid_namespace(proc_root_ / "self")) {}

SystemProcessTable::~SystemProcessTable() {
  for (const auto& [pid, tracked] : tracked_) ::close(tracked.pidfd);
  for (const auto& [pid, mapped] : namespaced_) ::close(mapped.pidfd);
}

SystemProcessTable::Stat SystemProcessTable::lookup_stat(std::int64_t pid) const {
  if (pid < 1 || pid > kMaxPid) return {Liveness::kGone, std::nullopt};
  // Signal 0 only asks whether the pid exists; EPERM means it does, under another user.
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
    return {Liveness::kGone, std::nullopt};
  }

  // Without a readable stat (hidepid, no /proc) only liveness is known, never a wrong verdict.
  auto file =
      detail::read_bounded_file(proc_root_ / std::to_string(pid) / "stat", kMaxPidStatBytes);
  if (file.status != detail::BoundedFile::Status::kOk) return {Liveness::kAlive, std::nullopt};
  auto stat = parse_pid_stat(file.content);
  if (!stat) return {Liveness::kAlive, std::nullopt};

  if (stat->state == 'X') return {Liveness::kGone, std::nullopt};
  return {stat->state == 'Z' ? Liveness::kZombie : Liveness::kAlive, stat->start_ticks};
}

std::optional<Timestamp> SystemProcessTable::start_time(
    std::optional<std::uint64_t> start_ticks) const {
  if (!start_ticks || !boot_time_ || clock_ticks_per_second_ <= 0) return std::nullopt;
  // Whole seconds and the remainder apart, so that no tick count can overflow.
  auto ticks_per_second = static_cast<std::uint64_t>(clock_ticks_per_second_);
  if (*start_ticks / ticks_per_second > kMaxUptimeSeconds) return std::nullopt;
  auto seconds = std::chrono::seconds{static_cast<std::int64_t>(*start_ticks / ticks_per_second)};
  auto fraction = std::chrono::microseconds{
      static_cast<std::int64_t>(*start_ticks % ticks_per_second * 1'000'000 / ticks_per_second)};
  // btime was read at startup; if the wall clock has been stepped since (NTP at boot), start
  // times move with it, or a live process would look like it started after its heartbeat.
  auto step = std::chrono::round<std::chrono::seconds>(clock_offset_() - realtime_minus_boottime_);
  return *boot_time_ + step + seconds + fraction;
}

ProcessInfo SystemProcessTable::lookup(std::int64_t pid) const {
  Stat stat = lookup_stat(pid);
  return {stat.liveness, start_time(stat.start_ticks), stat.start_ticks};
}

std::vector<ProcessInfo> SystemProcessTable::lookup_all(std::span<const std::int64_t> pids) const {
  const std::unordered_set<std::int64_t> wanted(pids.begin(), pids.end());
  std::unordered_map<std::int64_t, ProcessInfo> answers;
  answers.reserve(wanted.size());

  std::lock_guard lock(tracked_mutex_);
  for (std::int64_t pid : poll_cached(tracked_, wanted)) {
    const auto start_ticks = tracked_.at(pid).start_ticks;
    answers.emplace(pid, ProcessInfo{Liveness::kAlive, start_time(start_ticks), start_ticks});
  }

  for (std::int64_t pid : wanted) {
    if (answers.contains(pid)) continue;
    // The pidfd is opened before /proc is read: if the pid changed hands in between, the pidfd
    // polls readable and is not kept, so a kept pidfd always belongs to the process read.
    int pidfd = -1;
    if (pid >= 1 && pid <= kMaxPid && tracked_.size() + namespaced_.size() < max_tracked_) {
      pidfd = pidfd_open(pid);
    }
    Stat stat = lookup_stat(pid);
    if (pidfd >= 0) {
      if (stat.liveness == Liveness::kAlive && still_running(pidfd) &&
          tracked_.size() + namespaced_.size() < max_tracked_) {
        tracked_.emplace(pid, Tracked{pidfd, stat.start_ticks});
      } else {
        ::close(pidfd);
      }
    }
    answers.emplace(pid,
                    ProcessInfo{stat.liveness, start_time(stat.start_ticks), stat.start_ticks});
  }

  std::vector<ProcessInfo> infos;
  infos.reserve(pids.size());
  for (std::int64_t pid : pids) infos.push_back(answers.at(pid));
  return infos;
}

std::size_t SystemProcessTable::tracked() const {
  std::lock_guard lock(tracked_mutex_);
  return tracked_.size() + namespaced_.size();
}

std::size_t SystemProcessTable::namespace_scans() const {
  std::lock_guard lock(tracked_mutex_);
  return namespace_scans_;
}

PidNamespaceView SystemProcessTable::pid_namespaces() const {
  // /proc mounted with hidepid hides other users' processes (init's among them) from the scan,
  // which would then call every one of them gone: such a /proc does not show every process.
  const bool shows_all = ::access((proc_root_ / "1" / "stat").c_str(), R_OK) == 0;
  return {own_namespace_, own_namespace_ == detail::kInitialPidNamespace && shows_all};
}

ProcessInfo SystemProcessTable::info(Liveness liveness, std::uint64_t start_ticks) const {
  return {liveness, start_time(start_ticks), start_ticks};
}

std::map<NamespacedPid, SystemProcessTable::Found> SystemProcessTable::scan_namespaces(
    const std::set<NamespacedPid>& missing) const {
  ++namespace_scans_;
  // Most processes are passed over by their start ticks alone: stat is cheaper than status.
  std::unordered_set<std::uint64_t> ticks;
  std::multimap<std::pair<std::int64_t, std::uint64_t>, const NamespacedPid*> by_pid_and_ticks;
  for (const auto& key : missing) {
    ticks.insert(key.start_ticks);
    by_pid_and_ticks.emplace(std::pair{key.pid, key.start_ticks}, &key);
  }
  std::map<NamespacedPid, Found> found;
  DIR* proc = ::opendir(proc_root_.c_str());
  if (proc == nullptr) return found;
  while (const dirent* entry = ::readdir(proc)) {
    const auto host_pid = parse_integer<std::int64_t>(entry->d_name);
    if (!host_pid || *host_pid < 1 || *host_pid > kMaxPid) continue;
    const auto dir = proc_root_ / entry->d_name;
    const auto stat_file = detail::read_bounded_file(dir / "stat", kMaxPidStatBytes);
    if (stat_file.status != detail::BoundedFile::Status::kOk) continue;
    const auto stat = parse_pid_stat(stat_file.content);
    if (!stat || stat->state == 'X' || !ticks.contains(stat->start_ticks)) continue;
    const auto status = detail::read_bounded_file(dir / "status", detail::kMaxPidStatusBytes);
    if (status.status != detail::BoundedFile::Status::kOk) continue;
    const auto nspid = detail::proc_status_nspid(status.content);
    // Depth 1 is a process of the exporter's own namespace, which no such heartbeat names.
    if (!nspid || nspid->depth < 2) continue;
    const auto namespace_inode = detail::read_pid_namespace(dir);
    const Liveness liveness = stat->state == 'Z' ? Liveness::kZombie : Liveness::kAlive;
    const auto [first, last] = by_pid_and_ticks.equal_range({nspid->innermost, stat->start_ticks});
    for (auto candidate = first; candidate != last; ++candidate) {
      const NamespacedPid& key = *candidate->second;
      if (namespace_inode && *namespace_inode != key.pid_namespace) continue;
      // A process whose namespace was read and is equal beats one whose namespace is unknown.
      auto [at, inserted] =
          found.try_emplace(key, Found{*host_pid, liveness, namespace_inode.has_value()});
      if (!inserted && !at->second.namespace_read && namespace_inode) {
        at->second = Found{*host_pid, liveness, true};
      }
    }
  }
  ::closedir(proc);
  return found;
}

std::vector<ProcessInfo> SystemProcessTable::lookup_namespaced(
    std::span<const NamespacedPid> pids) const {
  const std::set<NamespacedPid> wanted(pids.begin(), pids.end());
  std::map<NamespacedPid, ProcessInfo> answers;

  std::lock_guard lock(tracked_mutex_);
  std::erase_if(ended_, [&](const auto& entry) { return !wanted.contains(entry.first); });
  // Exited ones are dropped: the scan tells a zombie from a process that is gone.
  for (const auto& key : poll_cached(namespaced_, wanted)) {
    answers.emplace(key, info(Liveness::kAlive, key.start_ticks));
  }

  for (auto& [key, ended] : ended_) {
    // A zombie stays one until reaped: its stat still says Z with the same start ticks.
    if (ended.liveness == Liveness::kZombie) {
      const auto stat = detail::read_bounded_file(
          proc_root_ / std::to_string(ended.host_pid) / "stat", kMaxPidStatBytes);
      const auto now = stat.status == detail::BoundedFile::Status::kOk
                           ? parse_pid_stat(stat.content)
                           : std::nullopt;
      if (!now || now->state != 'Z' || now->start_ticks != key.start_ticks) {
        ended.liveness = Liveness::kGone;
      }
    }
    answers.emplace(key, info(ended.liveness, key.start_ticks));
  }
  std::set<NamespacedPid> missing;
  for (const auto& key : wanted) {
    if (!answers.contains(key)) missing.insert(key);
  }
  const auto found = missing.empty() ? std::map<NamespacedPid, Found>{} : scan_namespaces(missing);
  for (const auto& key : missing) {
    auto hit = found.find(key);
    const Found process = hit == found.end() ? Found{0, Liveness::kGone, false} : hit->second;
    answers.emplace(key, info(process.liveness, key.start_ticks));
    if (process.liveness != Liveness::kAlive) {
      ended_.emplace(key, process);
      continue;
    }
    if (tracked_.size() + namespaced_.size() >= max_tracked_) continue;
    // As in lookup_all: the pidfd first, then the start ticks again, so that a kept pidfd is
    // the process that was found even if the host pid changed hands in between.
    const int pidfd = pidfd_open(process.host_pid);
    if (pidfd < 0) continue;
    const auto stat = detail::read_bounded_file(
        proc_root_ / std::to_string(process.host_pid) / "stat", kMaxPidStatBytes);
    const auto again = stat.status == detail::BoundedFile::Status::kOk
                           ? parse_pid_stat(stat.content)
                           : std::nullopt;
    if (again && again->start_ticks == key.start_ticks && again->state != 'Z' &&
        still_running(pidfd)) {
      namespaced_.emplace(key, Mapped{pidfd, process.host_pid});
    } else {
      ::close(pidfd);
    }
  }

  std::vector<ProcessInfo> infos;
  infos.reserve(pids.size());
  for (const auto& key : pids) {
    auto answer = answers.find(key);
    infos.push_back(answer == answers.end() ? ProcessInfo{} : answer->second);
  }
  return infos;
}

Timestamp SystemClock::now() const {
  return std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
}

}  // namespace heartbeat_exporter
