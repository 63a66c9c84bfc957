// The pid check across pid namespaces: SystemProcessTable's mapping over a fake /proc, and the
// checker's rule 2 for heartbeats that name a pid namespace.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "check/checker.h"
#include "check/process_table.h"
#include "config/config.h"
#include "heartbeat_exporter/writer.h"
#include "support/fakes.h"
#include "support/temp_dir.h"
#include "util/proc_stat.h"

namespace heartbeat_exporter {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::FakeProcessTable;

constexpr std::uint64_t kInitial = detail::kInitialPidNamespace;
constexpr std::uint64_t kPodA = 4026532841;
constexpr std::uint64_t kPodB = 4026532999;
// Host pids that no process holds: pidfd_open fails, so these are found but never cached.
constexpr std::int64_t kNoSuchHostPid = 4194000;

// A /proc tree: <pid>/stat, <pid>/status with NSpid, <pid>/ns/pid as the kernel's link, and
// self/ns/pid for the exporter's own namespace.
class FakeProc {
 public:
  explicit FakeProc(std::optional<std::uint64_t> own_namespace = kInitial) {
    dir_.write("stat", "cpu  1 2 3 4\nbtime 1770000000\n");
    add_raw(1, 1, "NSpid:\t1\n", kInitial);  // init, which hidepid would hide
    if (own_namespace) link_namespace("self", *own_namespace);
  }
  // A process with pid `host_pid` in this /proc, `inner` in its own namespace (NSpid depth 2),
  // started at `ticks`; `pid_namespace` unset: its ns/pid cannot be read (no ptrace rights).
  void add(std::int64_t host_pid, std::int64_t inner, std::uint64_t ticks,
           std::optional<std::uint64_t> pid_namespace, char state = 'S') const {
    add_raw(host_pid, ticks,
            "Name:\tworker\nNSpid:\t" + std::to_string(host_pid) + "\t" + std::to_string(inner) +
                "\nNSpgid:\t1\n",
            pid_namespace, state);
  }
  void add_raw(std::int64_t host_pid, std::uint64_t ticks, const std::string& status,
               std::optional<std::uint64_t> pid_namespace, char state = 'S') const {
    const std::string pid = std::to_string(host_pid);
    std::string stat = pid + " (worker) " + state;
    for (int field = 4; field <= 21; ++field) stat += " " + std::to_string(field);
    dir_.write(pid + "/stat", stat + " " + std::to_string(ticks) + " 3133440 365\n");
    dir_.write(pid + "/status", status);
    if (pid_namespace) link_namespace(pid, *pid_namespace);
  }
  void remove(std::int64_t host_pid) const {
    std::filesystem::remove_all(dir_ / std::to_string(host_pid));
  }
  const std::filesystem::path& path() const { return dir_.path(); }

 private:
  void link_namespace(const std::string& pid, std::uint64_t inode) const {
    std::filesystem::create_directories(dir_ / pid / "ns");
    std::filesystem::remove(dir_ / pid / "ns/pid");
    std::filesystem::create_symlink("pid:[" + std::to_string(inode) + "]", dir_ / pid / "ns/pid");
  }
  testing::TempDir dir_;
};

Liveness liveness_of(const SystemProcessTable& table, NamespacedPid key) {
  return table.lookup_namespaced({&key, 1}).front().liveness;
}

// A child that sleeps until killed; its pid is real, so that pidfd_open works on it.
class SleepingChild {
 public:
  SleepingChild() : pid_(::fork()) {
    if (pid_ == 0) {
      ::pause();
      ::_exit(0);
    }
  }
  ~SleepingChild() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  SleepingChild(const SleepingChild&) = delete;
  SleepingChild& operator=(const SleepingChild&) = delete;
  pid_t pid() const { return pid_; }
  void kill_without_reaping() const { ::kill(pid_, SIGKILL); }
  // Waits until the child has exited, leaving it a zombie.
  void wait_exited() const {
    siginfo_t info{};
    ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT);
  }

 private:
  pid_t pid_;
  bool reaped_ = false;
};

}  // namespace

TEST_CASE("NSpid is read as its depth and innermost pid, and anything else is refused") {
  auto nspid = detail::proc_status_nspid("Name:\tx\nNSpid:\t19134\t2\nNSpgid:\t1\n");
  REQUIRE(nspid);
  CHECK(nspid->depth == 2);
  CHECK(nspid->innermost == 2);
  nspid = detail::proc_status_nspid("NSpid:\t5\n");
  REQUIRE(nspid);
  CHECK(nspid->depth == 1);
  CHECK(nspid->innermost == 5);
  for (const char* bad : {"Name:\tx\n", "NSpid:\n", "NSpid:\t-1\t2\n", "NSpid:\t1\tx\n",
                          "NSpid:\t1\t99999999999999999999\n", "XNSpid:\t1\t2\n", ""}) {
    INFO("status: " << bad);
    CHECK_FALSE(detail::proc_status_nspid(bad));
  }
}

TEST_CASE("a namespace link is read as its inode, and no other link") {
  CHECK(detail::parse_namespace_link("pid:[4026531836]") == 4026531836U);
  for (const char* bad : {"pid:[]", "net:[4026531836]", "pid:[4026531836", "pid:[-1]",
                          "pid:[99999999999999999999]", "pid:[1] "}) {
    INFO("link: " << bad);
    CHECK_FALSE(detail::parse_namespace_link(bad));
  }
}

TEST_CASE("the exporter sees every process only from the initial pid namespace") {
  CHECK(SystemProcessTable(FakeProc(kInitial).path()).pid_namespaces().sees_all);
  CHECK(SystemProcessTable(FakeProc(kInitial).path()).pid_namespaces().own == kInitial);
  const auto in_pod = SystemProcessTable(FakeProc(kPodA).path()).pid_namespaces();
  CHECK_FALSE(in_pod.sees_all);
  CHECK(in_pod.own == kPodA);
  const auto unknown = SystemProcessTable(FakeProc(std::nullopt).path()).pid_namespaces();
  CHECK_FALSE(unknown.sees_all);
  CHECK_FALSE(unknown.own);
  // hidepid: init's /proc entry is hidden, so the scan would miss other users' processes.
  FakeProc hidden;
  hidden.remove(1);
  CHECK_FALSE(SystemProcessTable(hidden.path()).pid_namespaces().sees_all);
}

TEST_CASE("the same inner pid in two namespaces is two host processes, each by its namespace") {
  FakeProc proc;
  proc.add(kNoSuchHostPid, 7, 100, kPodA);
  proc.add(kNoSuchHostPid + 1, 7, 200, kPodB);
  SystemProcessTable table(proc.path());
  CHECK(liveness_of(table, {kPodA, 7, 100}) == Liveness::kAlive);
  CHECK(liveness_of(table, {kPodB, 7, 200}) == Liveness::kAlive);
  // Pod B's process has pod A's pid and start ticks of another heartbeat, but not its namespace.
  CHECK(liveness_of(table, {kPodA, 7, 200}) == Liveness::kGone);
  CHECK(liveness_of(table, {kPodA, 8, 100}) == Liveness::kGone);
}

TEST_CASE("start ticks tell a heartbeat's process from a later holder of its pid or its inode") {
  // Pod A's process 7 now started at tick 500: a later process took pid 7 in pod A, or pod A
  // died and its namespace inode went to a new pod whose process 7 started later. Either way the
  // heartbeat written at tick 100 names a process that is gone.
  FakeProc proc;
  proc.add(kNoSuchHostPid, 7, 500, kPodA);
  SystemProcessTable table(proc.path());
  CHECK(liveness_of(table, {kPodA, 7, 100}) == Liveness::kGone);
  CHECK(liveness_of(table, {kPodA, 7, 500}) == Liveness::kAlive);
}

TEST_CASE("an unreadable namespace link matches by pid and start ticks, a readable one decides") {
  FakeProc proc;
  proc.add(kNoSuchHostPid, 7, 100, std::nullopt);  // uid 65534 may not read another's ns/pid
  proc.add(kNoSuchHostPid + 1, 9, 100, kPodB);
  SystemProcessTable table(proc.path());
  CHECK(liveness_of(table, {kPodA, 7, 100}) == Liveness::kAlive);
  CHECK(liveness_of(table, {kPodA, 9, 100}) == Liveness::kGone);
}

TEST_CASE("a process of the exporter's own namespace (NSpid depth 1) is never the one found") {
  FakeProc proc;
  proc.add_raw(7, 100, "NSpid:\t7\n", kPodA);
  SystemProcessTable table(proc.path());
  CHECK(liveness_of(table, {kPodA, 7, 100}) == Liveness::kGone);
}

TEST_CASE("a process found in state Z is a zombie and in state X is gone") {
  FakeProc proc;
  proc.add(kNoSuchHostPid, 7, 100, kPodA, 'Z');
  proc.add(kNoSuchHostPid + 1, 8, 100, kPodA, 'X');
  SystemProcessTable table(proc.path());
  CHECK(liveness_of(table, {kPodA, 7, 100}) == Liveness::kZombie);
  CHECK(liveness_of(table, {kPodA, 8, 100}) == Liveness::kGone);
}

TEST_CASE("a found process is cached with its pidfd: later lookups do not read /proc") {
  FakeProc proc;
  const std::int64_t host_pid = ::getpid();
  proc.add(host_pid, 7, 100, kPodA);
  SystemProcessTable table(proc.path());
  CHECK(liveness_of(table, {kPodA, 7, 100}) == Liveness::kAlive);
  CHECK(table.namespace_scans() == 1);
  CHECK(table.tracked() == 1);
  // Gone from the fake /proc, alive for its pidfd: the answer comes from the cache.
  proc.remove(host_pid);
  for (int scrape = 0; scrape < 3; ++scrape) {
    CHECK(liveness_of(table, {kPodA, 7, 100}) == Liveness::kAlive);
  }
  CHECK(table.namespace_scans() == 1);
}

TEST_CASE("a pid that is not found is remembered while asked about, then forgotten") {
  FakeProc proc;
  SystemProcessTable table(proc.path());
  const NamespacedPid missing{kPodA, 7, 100};
  CHECK(liveness_of(table, missing) == Liveness::kGone);
  CHECK(liveness_of(table, missing) == Liveness::kGone);
  CHECK(table.namespace_scans() == 1);
  // Asked about nothing once, it is forgotten and looked for again.
  table.lookup_namespaced({});
  CHECK(liveness_of(table, missing) == Liveness::kGone);
  CHECK(table.namespace_scans() == 2);
}

TEST_CASE("many misses in one lookup cost one scan of /proc") {
  FakeProc proc;
  for (std::int64_t i = 0; i < 50; ++i) proc.add(kNoSuchHostPid - i, 7, 100 + i, kPodA);
  SystemProcessTable table(proc.path());
  std::vector<NamespacedPid> keys;
  for (std::uint64_t i = 0; i < 100; ++i) keys.push_back({kPodA, 7, 100 + i});
  const auto infos = table.lookup_namespaced(keys);
  CHECK(table.namespace_scans() == 1);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    INFO("key " << i);
    CHECK(infos[i].liveness == (i < 50 ? Liveness::kAlive : Liveness::kGone));
    if (i < 50) CHECK(infos[i].start_ticks == keys[i].start_ticks);
  }
}

TEST_CASE("one lookup finds pids of many namespaces, in any order of namespace and pid") {
  FakeProc proc;
  std::vector<NamespacedPid> keys;
  for (std::int64_t i = 0; i < 30; ++i) {
    // Namespaces ascending while pids descend: sorted by namespace, the pids are out of order.
    const NamespacedPid key{kPodA + static_cast<std::uint64_t>(i), 40 - i,
                            static_cast<std::uint64_t>(1000 + i % 3)};
    proc.add(kNoSuchHostPid - i, key.pid, key.start_ticks,
             i % 2 == 0 ? std::optional{key.pid_namespace} : std::nullopt);
    keys.push_back(key);
  }
  SystemProcessTable table(proc.path());
  const auto infos = table.lookup_namespaced(keys);
  CHECK(table.namespace_scans() == 1);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    INFO("key " << i);
    CHECK(infos[i].liveness == Liveness::kAlive);
  }
}

TEST_CASE("a cached process that exits is scanned for once: a zombie, then gone once reaped") {
  FakeProc proc;
  SleepingChild child;
  REQUIRE(child.pid() > 0);
  proc.add(child.pid(), 7, 100, kPodA);
  SystemProcessTable table(proc.path());
  const NamespacedPid key{kPodA, 7, 100};
  CHECK(liveness_of(table, key) == Liveness::kAlive);
  CHECK(table.tracked() == 1);

  child.kill_without_reaping();
  child.wait_exited();
  proc.add(child.pid(), 7, 100, kPodA, 'Z');  // what the kernel's /proc now says
  CHECK(liveness_of(table, key) == Liveness::kZombie);
  CHECK(table.tracked() == 0);
  CHECK(table.namespace_scans() == 2);
  // It never runs again: no more scans, only its stat is looked at until it is reaped.
  CHECK(liveness_of(table, key) == Liveness::kZombie);
  proc.remove(child.pid());
  CHECK(liveness_of(table, key) == Liveness::kGone);
  // A later process at the same host pid is not the zombie.
  proc.add(child.pid(), 7, 555, kPodA, 'Z');
  CHECK(liveness_of(table, key) == Liveness::kGone);
  CHECK(table.namespace_scans() == 2);
}

TEST_CASE("hostile /proc entries and keys give defined answers") {
  FakeProc proc;
  proc.add_raw(kNoSuchHostPid, 100, "NSpid:\t" + std::string(20000, '7') + "\n", kPodA);
  proc.add_raw(kNoSuchHostPid + 1, 100, "NSpid:\tx y\n", kPodA);
  proc.add_raw(kNoSuchHostPid + 2, 100, "no nspid at all", kPodA);
  proc.add(kNoSuchHostPid + 3, kMaxPid, 18446744073709551615U, 18446744073709551615U);
  std::filesystem::create_directories(proc.path() / "123abc");
  SystemProcessTable table(proc.path());
  CHECK(liveness_of(table, {kPodA, 7, 100}) == Liveness::kGone);
  CHECK(liveness_of(table, {18446744073709551615U, kMaxPid, 18446744073709551615U}) ==
        Liveness::kAlive);
  CHECK(liveness_of(table, {0, -5, 0}) == Liveness::kGone);
}

// --- The checker's rule 2 ----------------------------------------------------------------------

namespace {

const Timestamp kNow{std::chrono::sys_days{std::chrono::year{2026} / 2 / 5} + 6h};

ProcessConfig config(double timeout_seconds = 60) {
  ProcessConfig process;
  process.key = "worker";
  process.heartbeat_path = "/var/lib/heartbeats/worker.json";
  process.timeout_seconds = timeout_seconds;
  return process;
}

ReadResult heartbeat(std::optional<std::uint64_t> pid_namespace,
                     std::optional<std::uint64_t> start_ticks, Timestamp at = kNow - 5s) {
  HeartbeatData data;
  data.pid = 7;
  data.timestamp = at;
  data.status = "running";
  data.pid_namespace = pid_namespace;
  data.start_ticks = start_ticks;
  return ReadResult::success(data);
}

FakeProcessTable table_in(std::optional<std::uint64_t> own, bool sees_all) {
  FakeProcessTable table;
  table.namespaces = {own, sees_all};
  return table;
}

}  // namespace

TEST_CASE("in the exporter's namespace, equal start ticks are the same process whatever the time") {
  FakeProcessTable table = table_in(kInitial, true);
  // Started 10 s after the heartbeat by the clock, which the 1 s heuristic would call reused.
  table.by_pid[7] = ProcessInfo{Liveness::kAlive, kNow + 5s, 100};
  auto result = decide_health(config(), heartbeat(kInitial, 100), kNow, table);
  CHECK(result.state == HealthState::kHealthy);
  result = decide_health(config(), heartbeat(std::nullopt, 100), kNow, table);
  CHECK(result.state == HealthState::kHealthy);
}

TEST_CASE("in the exporter's namespace, other start ticks are pid reuse whatever the time") {
  FakeProcessTable table = table_in(kInitial, true);
  table.by_pid[7] = ProcessInfo{Liveness::kAlive, kNow - 1h, 101};
  const auto result = decide_health(config(), heartbeat(kInitial, 100), kNow, table);
  CHECK(result.state == HealthState::kStalePid);
  CHECK(result.reason == "pid_reused");
  CHECK(result.detail ==
        "pid 7 now belongs to a process that started at tick 101, not the heartbeat's, which "
        "started at tick 100");
}

TEST_CASE("a pid of another namespace is checked as the process the table finds for it") {
  FakeProcessTable table = table_in(kInitial, true);
  table.by_pid[7] = ProcessInfo{Liveness::kGone};  // host pid 7 is not the pod's pid 7
  table.by_namespaced_pid[{kPodA, 7, 100}] = ProcessInfo{Liveness::kAlive, kNow - 1h, 100};
  table.by_namespaced_pid[{kPodB, 7, 200}] = ProcessInfo{Liveness::kZombie, kNow - 1h, 200};

  auto result = decide_health(config(), heartbeat(kPodA, 100), kNow, table);
  CHECK(result.state == HealthState::kHealthy);
  CHECK(result.detail.empty());
  CHECK(result.pid_check_skipped.empty());

  result = decide_health(config(), heartbeat(kPodB, 200), kNow, table);
  CHECK(result.state == HealthState::kStalePid);
  CHECK(result.reason == "zombie");
  CHECK(result.detail ==
        "pid 7 in pid namespace 4026532999 has exited and is a zombie waiting to "
        "be reaped");

  result = decide_health(config(), heartbeat(kPodA, 999), kNow, table);
  CHECK(result.state == HealthState::kStalePid);
  CHECK(result.reason == "process_gone");
  CHECK(result.detail == "no process with pid 7 in pid namespace 4026532841");
}

TEST_CASE("a namespace the exporter cannot see skips the pid check and says so") {
  // The exporter runs in pod B, without hostPID: pod A's pid 7 means nothing here.
  FakeProcessTable table = table_in(kPodB, false);
  auto result = decide_health(config(), heartbeat(kPodA, 100), kNow, table);
  CHECK(result.state == HealthState::kHealthy);
  CHECK(result.reason.empty());
  CHECK(result.pid_check_skipped == "namespace_not_visible");
  CHECK(result.detail == "pid namespace 4026532841 is not visible from the exporter");

  result = decide_health(config(), heartbeat(kPodA, 100, kNow - 2min), kNow, table);
  CHECK(result.state == HealthState::kTimedOut);
  CHECK(result.detail ==
        "last heartbeat 120.0 s ago, timeout 60 s; pid namespace 4026532841 is "
        "not visible from the exporter");

  // Its own namespace it still checks.
  result = decide_health(config(), heartbeat(kPodB, 100), kNow, table);
  CHECK(result.state == HealthState::kStalePid);
  CHECK(result.pid_check_skipped.empty());
}

TEST_CASE("without its own namespace known the exporter sees no other one") {
  FakeProcessTable table = table_in(std::nullopt, false);
  const auto result = decide_health(config(), heartbeat(kPodA, 100), kNow, table);
  CHECK(result.state == HealthState::kHealthy);
  CHECK(result.pid_check_skipped == "namespace_not_visible");
}

TEST_CASE("another namespace without start ticks skips the pid check, never guesses") {
  FakeProcessTable table = table_in(kInitial, true);
  table.by_pid[7] = ProcessInfo{Liveness::kAlive, kNow - 1h, 1};
  const auto result = decide_health(config(), heartbeat(kPodA, std::nullopt), kNow, table);
  CHECK(result.state == HealthState::kHealthy);
  CHECK(result.pid_check_skipped == "no_start_ticks");
  CHECK(result.detail ==
        "pid namespace 4026532841 is named without start_ticks; the pid check is skipped");
}

TEST_CASE("check_pid false makes no pid check, so none is skipped") {
  FakeProcessTable table = table_in(kPodB, false);
  ProcessConfig process = config();
  process.check_pid = false;
  const auto result = decide_health(process, heartbeat(kPodA, 100), kNow, table);
  CHECK(result.state == HealthState::kHealthy);
  CHECK(result.pid_check_skipped.empty());
  CHECK(result.detail.empty());
}

TEST_CASE("the checker asks for every pid of other namespaces in one lookup per scrape") {
  testing::TempDir dir;
  for (int i = 0; i < 20; ++i) {
    HeartbeatData data;
    data.pid = 7;
    data.timestamp = kNow - 1s;
    data.status = "running";
    data.pid_namespace = kPodA + static_cast<std::uint64_t>(i % 2);
    data.start_ticks = static_cast<std::uint64_t>(i);
    write_heartbeat_file(dir.path(), "worker" + std::to_string(i), data);
  }
  class CountingTable final : public ProcessTable {
   public:
    ProcessInfo lookup(std::int64_t) const override { return {}; }
    PidNamespaceView pid_namespaces() const override { return {kInitial, true}; }
    std::vector<ProcessInfo> lookup_namespaced(std::span<const NamespacedPid> pids) const override {
      ++calls;
      asked += pids.size();
      std::vector<ProcessInfo> infos;
      for (const auto& key : pids) {
        infos.push_back(key.start_ticks % 2 == 0 ? ProcessInfo{Liveness::kAlive} : ProcessInfo{});
      }
      return infos;
    }
    mutable int calls = 0;
    mutable std::size_t asked = 0;
  } table;
  Config config;
  HeartbeatDirConfig folder;
  folder.path = dir.path();
  config.heartbeat_dirs.push_back(folder);
  FakeClock clock(kNow);
  const auto report = Checker(clock, table).check_all(config);
  CHECK(table.calls == 1);
  CHECK(table.asked == 20);
  REQUIRE(report.results.size() == 20);
  for (const auto& result : report.results) {
    INFO(result.process.key << ": " << result.detail);
    const bool even = result.heartbeat && *result.heartbeat->start_ticks % 2 == 0;
    CHECK(result.state == (even ? HealthState::kHealthy : HealthState::kStalePid));
  }
}

}  // namespace heartbeat_exporter
