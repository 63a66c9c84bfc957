#include "check/checker.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "heartbeat/heartbeat_cache.h"
#include "heartbeat/reader_detail.h"
#include "heartbeat_exporter/timestamp.h"
#include "util/parallel.h"
#include "util/text.h"
#include "util/time_format.h"

namespace heartbeat_exporter {
namespace {

double seconds_between(Timestamp later, Timestamp earlier) {
  return std::chrono::duration<double>(later - earlier).count();
}

// Sets the verdict on result, which decide_health then returns by name: the result, large with
// its heartbeat and config, is built in place and never moved on the way out.
void set_verdict(CheckResult& result, HealthState state, std::string reason, std::string detail) {
  // A skipped pid check is said whatever the verdict, so that nobody takes it for a made one.
  if (!result.pid_check_skipped.empty()) {
    std::string skipped = "pid namespace " + std::to_string(*result.heartbeat->pid_namespace) +
                          (result.pid_check_skipped == "namespace_not_visible"
                               ? " is not visible from the exporter"
                               : " is named without start_ticks; the pid check is skipped");
    detail = detail.empty() ? std::move(skipped) : detail + "; " + skipped;
  }
  result.state = state;
  result.reason = std::move(reason);
  result.detail = std::move(detail);
}

// Where the process behind a heartbeat's pid is looked for.
enum class PidScope {
  kOwn,           // the exporter's pid namespace, or the heartbeat names none: by pid
  kOther,         // another namespace, and the exporter sees every process: by NamespacedPid
  kNotVisible,    // another namespace the exporter cannot see into: skipped
  kNoStartTicks,  // another namespace, but no start_ticks to tell its process by: skipped
};

PidScope pid_scope(const HeartbeatData& heartbeat, const PidNamespaceView& view) {
  if (!heartbeat.pid_namespace || heartbeat.pid_namespace == view.own) return PidScope::kOwn;
  if (!view.sees_all) return PidScope::kNotVisible;
  if (!heartbeat.start_ticks) return PidScope::kNoStartTicks;
  return PidScope::kOther;
}

NamespacedPid namespaced_pid(const HeartbeatData& heartbeat) {
  return {heartbeat.pid_namespace.value_or(0), heartbeat.pid, heartbeat.start_ticks.value_or(0)};
}

struct StalePid {
  std::string reason;
  std::string detail;
};

// Rule 2 for a pid the exporter can look up: why it is stale, or nullopt when it is not.
std::optional<StalePid> stale_pid(const HeartbeatData& heartbeat, const ProcessInfo& info,
                                  PidScope scope) {
  // Spelled only for a stale pid: a live one, the common case, costs no string.
  auto who = [&] {
    std::string pid = "pid " + std::to_string(heartbeat.pid);
    if (scope != PidScope::kOther) return pid;
    return pid + " in pid namespace " + std::to_string(*heartbeat.pid_namespace);
  };
  if (info.liveness == Liveness::kGone) {
    return StalePid{"process_gone", scope == PidScope::kOther ? "no process with " + who()
                                                              : who() + " is not running"};
  }
  if (info.liveness == Liveness::kZombie) {
    return StalePid{"zombie", who() + " has exited and is a zombie waiting to be reaped"};
  }
  // The start ticks decide exactly; the start time only within kStartTimeTolerance.
  if (heartbeat.start_ticks && info.start_ticks) {
    if (*heartbeat.start_ticks == *info.start_ticks) return std::nullopt;
    return StalePid{"pid_reused", who() + " now belongs to a process that started at tick " +
                                      std::to_string(*info.start_ticks) +
                                      ", not the heartbeat's, which started at tick " +
                                      std::to_string(*heartbeat.start_ticks)};
  }
  if (info.start_time && *info.start_time > heartbeat.timestamp + kStartTimeTolerance) {
    return StalePid{"pid_reused", who() + " now belongs to a process that started " +
                                      format_timestamp(*info.start_time) +
                                      ", after the heartbeat at " +
                                      format_timestamp(heartbeat.timestamp)};
  }
  return std::nullopt;
}

// Rule 3, TIMED_OUT, for one heartbeat: whether it is late, and when it is (or was) due.
struct Lateness {
  std::optional<double> deadline_seconds;  // Unix time
  bool late = false;
  std::string reason;
  std::string detail;
};

// Without a schedule a heartbeat is late timeout_seconds after its timestamp. With one it is
// late once the first time the job was due after it has passed by more than grace_seconds,
// and timeout_seconds bounds only a run in progress (status "running": a hung run), so that a
// finished run is judged by its schedule alone. When both bounds apply the earlier one speaks.
Lateness judge_lateness(const ProcessConfig& process, const HeartbeatData& heartbeat, Timestamp now,
                        double age_seconds) {
  Lateness out;
  const double last = to_unix_seconds(heartbeat.timestamp);
  const bool timeout_applies = !process.schedule || heartbeat.status == "running";
  if (timeout_applies) {
    out.deadline_seconds = last + process.timeout_seconds;
    if (age_seconds > process.timeout_seconds) {
      out.late = true;
      out.reason = "timed_out";
      out.detail = std::string(process.schedule ? "run in progress: " : "") + "last heartbeat " +
                   detail::format_age(age_seconds) + " s ago, timeout " +
                   detail::format_number(process.timeout_seconds) + " s";
    }
  }
  if (!process.schedule) return out;
  const Schedule& schedule = *process.schedule;
  auto due = schedule.next_after(heartbeat.timestamp);
  if (!due) return out;
  const double by_schedule = to_unix_seconds(*due) + process.grace_seconds;
  if (out.deadline_seconds && *out.deadline_seconds < by_schedule) return out;
  out.deadline_seconds = by_schedule;
  if (seconds_between(now, *due) > process.grace_seconds) {
    out.late = true;
    out.reason = "missed_schedule";
    out.detail = "no heartbeat since the run due at " + format_timestamp(*due) + " (schedule \"" +
                 schedule.expression() + "\" in " + std::string(schedule.time_zone_name()) +
                 ", grace " + detail::format_number(process.grace_seconds) +
                 " s); last heartbeat " + detail::format_age(age_seconds) + " s ago";
  }
  return out;
}

}  // namespace

CheckResult decide_health(const ProcessConfig& process, const ReadResult& read, Timestamp now,
                          const ProcessTable& processes) {
  return decide_health(ProcessConfig(process), read, now, processes);
}

// The process is taken by value so that the checker can move it in instead of copying it.
CheckResult decide_health(ProcessConfig&& owned_process, const ReadResult& read, Timestamp now,
                          const ProcessTable& processes) {
  CheckResult result;
  result.process = std::move(owned_process);
  const ProcessConfig& process = result.process;

  if (!read.ok()) {
    ReadFailure failure =
        read.failure.value_or(ReadFailure{ReadError::kUnreadable, "no heartbeat was read"});
    result.read_error = failure.reason;
    set_verdict(result, HealthState::kNoHeartbeat, std::string(to_string(failure.reason)),
                std::move(failure.message));
    return result;
  }

  const HeartbeatData& heartbeat = *read.heartbeat;
  result.heartbeat = heartbeat;
  double age_seconds = seconds_between(now, heartbeat.timestamp);
  // A clock that is far off on the writer's side must not make a heartbeat look fresh forever.
  if (-age_seconds > process.timeout_seconds) {
    set_verdict(result, HealthState::kNoHeartbeat, "timestamp_in_future",
                "heartbeat timestamp is " + detail::format_age(-age_seconds) +
                    " s in the future (timeout " + detail::format_number(process.timeout_seconds) +
                    " s)");
    return result;
  }
  result.age_seconds = age_seconds;
  Lateness lateness = judge_lateness(process, heartbeat, now, age_seconds);
  result.deadline_seconds = lateness.deadline_seconds;

  // A run's final heartbeat (it carries the exit code) names a process that is meant to be gone.
  if (process.check_pid && !heartbeat.exit_code) {
    const PidScope scope = pid_scope(heartbeat, processes.pid_namespaces());
    if (scope == PidScope::kNotVisible) result.pid_check_skipped = "namespace_not_visible";
    if (scope == PidScope::kNoStartTicks) result.pid_check_skipped = "no_start_ticks";
    if (scope == PidScope::kOwn || scope == PidScope::kOther) {
      const NamespacedPid key = namespaced_pid(heartbeat);
      const ProcessInfo info = scope == PidScope::kOwn
                                   ? processes.lookup(heartbeat.pid)
                                   : processes.lookup_namespaced({&key, 1}).front();
      if (auto stale = stale_pid(heartbeat, info, scope)) {
        set_verdict(result, HealthState::kStalePid, std::move(stale->reason),
                    std::move(stale->detail));
        return result;
      }
    }
  }

  if (lateness.late) {
    set_verdict(result, HealthState::kTimedOut, std::move(lateness.reason),
                std::move(lateness.detail));
    return result;
  }

  // The status itself is shown where a status belongs (escaped); a reason never echoes what a
  // file holds.
  // A run that completed stays healthy until a newer heartbeat is overdue, as a running one.
  if (heartbeat.status != "running" && heartbeat.status != kStatusCompleted) {
    set_verdict(result, HealthState::kErrorStatus, "error_status",
                heartbeat.exit_code
                    ? "the run ended with exit code " + std::to_string(*heartbeat.exit_code)
                    : "status is not \"running\"");
    return result;
  }

  set_verdict(result, HealthState::kHealthy, "", "");
  return result;
}

CheckResult check_process(const ProcessConfig& process, const Clock& clock,
                          const ProcessTable& processes) {
  ReadResult read = read_heartbeat(process.heartbeat_path);
  // Taken after the read, so that a heartbeat written while reading is not in the future.
  Timestamp now = clock.now();
  return decide_health(process, read, now, processes);
}

namespace {

// Below this many processes a thread costs more than it saves.
constexpr std::size_t kMinProcessesPerThread = 256;
constexpr unsigned kMaxThreads = 4;

unsigned thread_count(unsigned asked) {
  if (asked != 0) return asked;
  return std::clamp(std::thread::hardware_concurrency(), 1U, kMaxThreads);
}

// Calls work(begin, end) over [0, count) split into contiguous ranges, one per thread.
template <typename Work>
void parallel_for(std::size_t count, unsigned threads, const Work& work) {
  detail::run_ranges(
      count, std::clamp<std::size_t>(count / kMinProcessesPerThread, 1, std::max(threads, 1U)),
      work);
}

// Answers decide_health's pid questions from one lookup_all over every pid of the check.
class PrefetchedProcesses final : public ProcessTable {
 public:
  PrefetchedProcesses(std::span<const std::int64_t> pids, std::vector<ProcessInfo> infos,
                      PidNamespaceView view, std::span<const NamespacedPid> namespaced_pids,
                      std::vector<ProcessInfo> namespaced_infos)
      : view_(view) {
    for (std::size_t i = 0; i < pids.size(); ++i) infos_.emplace(pids[i], infos[i]);
    for (std::size_t i = 0; i < namespaced_pids.size(); ++i) {
      namespaced_.emplace(namespaced_pids[i], namespaced_infos[i]);
    }
  }
  ProcessInfo lookup(std::int64_t pid) const override {
    auto found = infos_.find(pid);
    return found == infos_.end() ? ProcessInfo{} : found->second;
  }
  PidNamespaceView pid_namespaces() const override { return view_; }
  std::vector<ProcessInfo> lookup_namespaced(std::span<const NamespacedPid> pids) const override {
    std::vector<ProcessInfo> infos;
    for (const auto& key : pids) {
      auto found = namespaced_.find(key);
      infos.push_back(found == namespaced_.end() ? ProcessInfo{} : found->second);
    }
    return infos;
  }

 private:
  std::unordered_map<std::int64_t, ProcessInfo> infos_;
  PidNamespaceView view_;
  std::map<NamespacedPid, ProcessInfo> namespaced_;
};

}  // namespace

Checker::Checker(const Clock& clock, const ProcessTable& processes, CheckerOptions options)
    : clock_(clock),
      processes_(processes),
      threads_(thread_count(options.threads)),
      cache_(options.reuse_unchanged_files ? std::make_unique<HeartbeatCache>() : nullptr) {}

Checker::~Checker() = default;

MonitorReport Checker::check_all(const Config& config) const {
  auto started = std::chrono::steady_clock::now();
  MonitorReport report;
  report.checked_at = clock_.now();

  Discovery discovery = discover_processes(config);
  report.discovery_errors = std::move(discovery.errors);
  report.folders = std::move(discovery.folders);
  const std::size_t count = discovery.processes.size();

  std::vector<ReadResult> reads(count);
  std::optional<HeartbeatCache::Scrape> scrape;
  if (cache_) scrape.emplace(cache_->begin(count));
  parallel_for(count, threads_, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      const auto& path = discovery.processes[i].heartbeat_path;
      const HeartbeatSource& source = discovery.sources[i];
      const detail::HeartbeatFile file{
          source.dir_fd, path.c_str() + source.name_offset,
          source.follow_symlinks ? detail::Symlinks::kFollow : detail::Symlinks::kRefuse, path};
      reads[i] = scrape ? scrape->read(i, file) : detail::read_heartbeat(file, nullptr);
    }
  });
  if (scrape) cache_->commit(std::move(*scrape));

  // Every pid at once, so that the process table can answer them together: those of other pid
  // namespaces in one more call, which reads through /proc at most once.
  const PidNamespaceView view = processes_.pid_namespaces();
  std::vector<std::int64_t> pids;
  std::vector<NamespacedPid> namespaced_pids;
  for (std::size_t i = 0; i < count; ++i) {
    if (!discovery.processes[i].check_pid || !reads[i].ok() || reads[i].heartbeat->exit_code) {
      continue;
    }
    const HeartbeatData& heartbeat = *reads[i].heartbeat;
    const PidScope scope = pid_scope(heartbeat, view);
    if (scope == PidScope::kOwn) pids.push_back(heartbeat.pid);
    if (scope == PidScope::kOther) namespaced_pids.push_back(namespaced_pid(heartbeat));
  }
  // Asked even with none, so that the table lets go of what it cached for earlier ones.
  const PrefetchedProcesses processes(pids, processes_.lookup_all(pids), view, namespaced_pids,
                                      processes_.lookup_namespaced(namespaced_pids));

  // Taken after every read, so that a heartbeat written while reading is not in the future.
  const Timestamp now = clock_.now();
  report.results.resize(count);
  parallel_for(count, threads_, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      report.results[i] =
          decide_health(std::move(discovery.processes[i]), reads[i], now, processes);
    }
  });

  report.duration = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::steady_clock::now() - started);
  return report;
}

MonitorReport check_all_processes(const Config& config, const Clock& clock,
                                  const ProcessTable& processes) {
  return Checker(clock, processes).check_all(config);
}

MonitorReport check_all_processes(const Config& config) {
  static const SystemClock clock;
  static const SystemProcessTable processes;
  return check_all_processes(config, clock, processes);
}

}  // namespace heartbeat_exporter
