#include "check/process_table.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <string>
#include <vector>

#include "check/checker.h"
#include "heartbeat_exporter/reader.h"
#include "support/temp_dir.h"

namespace heartbeat_exporter {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kFakeBootTime = 1770000000;  // 2026-02-02T02:40:00Z

constexpr uid_t kNobody = 65534;
constexpr int kCannotDropRoot = 2;
constexpr int kNotPermittedUntested = 3;

std::int64_t own_pid() { return ::getpid(); }

long clock_ticks() { return ::sysconf(_SC_CLK_TCK); }

// A /proc/<pid>/stat line with the given comm, state and starttime (field 22).
std::string stat_line(std::int64_t pid, std::string_view comm, char state,
                      std::int64_t start_ticks) {
  std::string line = std::to_string(pid) + " (" + std::string(comm) + ") " + state;
  // Fields 4 (ppid) to 21 (itrealvalue).
  for (int field = 4; field <= 21; ++field) line += " " + std::to_string(field);
  line += " " + std::to_string(start_ticks);
  line += " 3133440 365 18446744073709551615 0 0 0\n";
  return line;
}

// A fake /proc with a boot time and one process's stat file.
void write_fake_proc(const testing::TempDir& proc, std::string_view pid_stat) {
  proc.write("stat", "cpu  1 2 3 4\nintr 1 2 3\nctxt 99\nbtime " + std::to_string(kFakeBootTime) +
                         "\nprocesses 1\n");
  proc.write(std::to_string(own_pid()) + "/stat", pid_stat);
}

}  // namespace

TEST_CASE("this process is alive with a start time in the recent past") {
  SystemProcessTable table;
  Timestamp now = SystemClock().now();

  ProcessInfo info = table.lookup(own_pid());
  CHECK(info.liveness == Liveness::kAlive);
  REQUIRE(info.start_time);
  CHECK(*info.start_time <= now + 1s);
  CHECK(*info.start_time > now - 1h);
}

TEST_CASE("pid 1 is alive, whoever owns it") {
  CHECK(SystemProcessTable().lookup(1).liveness == Liveness::kAlive);
}

TEST_CASE("a process owned by another user is alive although kill() is not permitted") {
  // Runs in a child that is not root, because root may signal any process.
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (::getuid() == 0 && ::setuid(kNobody) != 0) ::_exit(kCannotDropRoot);
    if (::kill(1, 0) == 0 || errno != EPERM) ::_exit(kNotPermittedUntested);
    ::_exit(SystemProcessTable().lookup(1).liveness == Liveness::kAlive ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("a child that exited and was reaped is gone") {
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);

  ProcessInfo info = SystemProcessTable().lookup(child);
  CHECK(info.liveness == Liveness::kGone);
  CHECK_FALSE(info.start_time);
}

TEST_CASE("a child that exited and was not reaped is a zombie") {
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  // WNOWAIT waits for the exit but leaves the child unreaped, so it is a zombie without polling.
  siginfo_t exited{};
  REQUIRE(::waitid(P_PID, static_cast<id_t>(child), &exited, WEXITED | WNOWAIT) == 0);

  ProcessInfo info = SystemProcessTable().lookup(child);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(info.liveness == Liveness::kZombie);
}

TEST_CASE("pids outside 1..kMaxPid are gone without asking the system") {
  SystemProcessTable table;
  for (std::int64_t pid : {std::int64_t{0}, std::int64_t{-1}, kMaxPid + 1, std::int64_t{-4194304},
                           std::int64_t{1} << 40}) {
    INFO("pid " << pid);
    ProcessInfo info = table.lookup(pid);
    CHECK(info.liveness == Liveness::kGone);
    CHECK_FALSE(info.start_time);
  }
}

TEST_CASE("the stat parser reads fields after the last ')' of a comm with spaces and parentheses") {
  testing::TempDir proc;
  write_fake_proc(proc, stat_line(own_pid(), "a) Z (b c", 'S', 3 * clock_ticks()));

  ProcessInfo info = SystemProcessTable(proc.path()).lookup(own_pid());
  CHECK(info.liveness == Liveness::kAlive);
  REQUIRE(info.start_time);
  CHECK(*info.start_time == Timestamp{std::chrono::seconds{kFakeBootTime} + 3s});
}

TEST_CASE("a start time in ticks is converted to microseconds after the boot time") {
  testing::TempDir proc;
  long ticks = clock_ticks();
  REQUIRE(ticks == 100);  // USER_HZ on every Linux architecture we build for
  write_fake_proc(proc, stat_line(own_pid(), "worker", 'R', 12345));

  ProcessInfo info = SystemProcessTable(proc.path()).lookup(own_pid());
  REQUIRE(info.start_time);
  CHECK(*info.start_time == Timestamp{std::chrono::seconds{kFakeBootTime} + 123450ms});
}

TEST_CASE("start times move with a wall-clock step, so a live process is not taken for reused") {
  const std::chrono::hours step = GENERATE(-1h, 1h);
  INFO("wall clock stepped by " << step.count() << " h");
  testing::TempDir proc;
  write_fake_proc(proc, stat_line(own_pid(), "worker", 'S', 3 * clock_ticks()));
  std::chrono::microseconds realtime_minus_boottime = std::chrono::seconds{kFakeBootTime};
  SystemProcessTable table(proc.path(), [&] { return realtime_minus_boottime; });

  realtime_minus_boottime += step;

  // Started 3 s after boot, which the stepped wall clock now calls 3 s + step after btime.
  const Timestamp started{std::chrono::seconds{kFakeBootTime} + 3s + step};
  const ProcessInfo info = table.lookup(own_pid());
  CHECK(info.liveness == Liveness::kAlive);
  REQUIRE(info.start_time);
  CHECK(format_timestamp(*info.start_time) == format_timestamp(started));
  const auto all = table.lookup_all(std::vector<std::int64_t>{own_pid()});
  REQUIRE(all.at(0).start_time);
  CHECK(format_timestamp(*all.at(0).start_time) == format_timestamp(started));

  // A heartbeat the process wrote 10 s after it started, by the stepped wall clock.
  const HeartbeatData heartbeat{.process_key = "worker",
                                .pid = own_pid(),
                                .timestamp = started + 10s,
                                .status = "running",
                                .iteration = 1};
  const ProcessConfig process{.key = "worker",
                              .heartbeat_path = "/var/lib/heartbeats/worker.json",
                              .timeout_seconds = 60,
                              .check_pid = true,
                              .labels = {}};
  const CheckResult result =
      decide_health(process, ReadResult::success(heartbeat), started + 11s, table);
  CHECK(result.reason == "");
  CHECK(result.state == HealthState::kHealthy);
}

TEST_CASE("state Z in stat is a zombie and state X is gone") {
  testing::TempDir proc;
  SECTION("Z") {
    write_fake_proc(proc, stat_line(own_pid(), "worker", 'Z', 100));
    CHECK(SystemProcessTable(proc.path()).lookup(own_pid()).liveness == Liveness::kZombie);
  }
  SECTION("X") {
    write_fake_proc(proc, stat_line(own_pid(), "worker", 'X', 100));
    CHECK(SystemProcessTable(proc.path()).lookup(own_pid()).liveness == Liveness::kGone);
  }
}

TEST_CASE("a live pid without a readable stat is alive with no start time (hidepid)") {
  testing::TempDir proc;
  proc.write("stat", "btime " + std::to_string(kFakeBootTime) + "\n");

  ProcessInfo info = SystemProcessTable(proc.path()).lookup(own_pid());
  CHECK(info.liveness == Liveness::kAlive);
  CHECK_FALSE(info.start_time);
}

TEST_CASE("a live pid with a stat that cannot be parsed is alive with no start time") {
  testing::TempDir proc;
  std::string stat;
  SECTION("no closing parenthesis") { stat = "123 (worker S 1 2 3"; }
  SECTION("too few fields") { stat = "123 (worker) S 1 2 3\n"; }
  SECTION("a state of more than one letter") {
    stat = stat_line(own_pid(), "worker", 'S', 100);
    stat.replace(stat.find(") S") + 2, 1, "SS");
  }
  SECTION("a start time that is not a number") {
    stat = stat_line(own_pid(), "worker", 'S', 100);
    stat.replace(stat.find(" 100 "), 5, " 1x0 ");
  }
  SECTION("empty") { stat = ""; }
  SECTION("larger than any stat line, even though it starts well") {
    stat = stat_line(own_pid(), "worker", 'S', 100);
    for (int field = 0; field < 4096; ++field) stat.insert(stat.size() - 1, " 0");
  }
  write_fake_proc(proc, stat);

  ProcessInfo info = SystemProcessTable(proc.path()).lookup(own_pid());
  CHECK(info.liveness == Liveness::kAlive);
  CHECK_FALSE(info.start_time);
}

TEST_CASE("a dead pid is gone even when a stale stat file says otherwise") {
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  testing::TempDir proc;
  proc.write("stat", "btime " + std::to_string(kFakeBootTime) + "\n");
  proc.write(std::to_string(child) + "/stat", stat_line(child, "worker", 'S', 100));

  CHECK(SystemProcessTable(proc.path()).lookup(child).liveness == Liveness::kGone);
}

TEST_CASE("without a boot time the liveness is known but not the start time") {
  testing::TempDir proc;
  proc.write(std::to_string(own_pid()) + "/stat", stat_line(own_pid(), "worker", 'Z', 100));

  ProcessInfo info = SystemProcessTable(proc.path()).lookup(own_pid());
  CHECK(info.liveness == Liveness::kZombie);
  CHECK_FALSE(info.start_time);
}

TEST_CASE("the system clock's now is the current time to the microsecond") {
  auto before = std::chrono::system_clock::now();
  Timestamp now = SystemClock().now();
  auto after = std::chrono::system_clock::now();
  CHECK(now <= after);
  CHECK(now + 1us > before);
}

namespace {

// A forked child that is killed and reaped when the test ends, however it ends.
class Child {
 public:
  // Forks a child that waits for signals until it is killed.
  static Child waiting() {
    const pid_t pid = ::fork();
    if (pid == 0) {
      while (true) ::pause();
    }
    return Child(pid);
  }
  // Forks a child that exits at once.
  static Child exiting() {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    return Child(pid);
  }

  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    // Once reaped, the pid may already belong to someone else.
    if (pid_ <= 0 || reaped_) return;
    ::kill(pid_, SIGKILL);
    reap();
  }

  pid_t pid() const { return pid_; }
  // Waits until the child has exited, leaving it a zombie.
  bool wait_exited() const {
    siginfo_t exited{};
    return ::waitid(P_PID, static_cast<id_t>(pid_), &exited, WEXITED | WNOWAIT) == 0;
  }
  bool reap() {
    int status = 0;
    reaped_ = ::waitpid(pid_, &status, 0) == pid_;
    return reaped_;
  }

 private:
  explicit Child(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  bool reaped_ = false;
};

// The exporter raises its soft limit to the hard one at startup; without that, a soft limit of
// 1024 leaves SystemProcessTable no file descriptors for pidfds.
void raise_file_limit_as_the_exporter_does() {
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  if (limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &limit) == 0);
}

std::string describe(const ProcessInfo& info) {
  std::string text = info.liveness == Liveness::kAlive    ? "alive"
                     : info.liveness == Liveness::kZombie ? "zombie"
                                                          : "gone";
  text += info.start_time ? " started " + format_timestamp(*info.start_time) : " no start time";
  return text;
}

}  // namespace

TEST_CASE("lookup_all answers like lookup for this process, out-of-range pids, gone and zombie") {
  Child gone = Child::exiting();
  REQUIRE(gone.pid() > 0);
  REQUIRE(gone.reap());
  Child zombie = Child::exiting();
  REQUIRE(zombie.pid() > 0);
  REQUIRE(zombie.wait_exited());
  raise_file_limit_as_the_exporter_does();

  SystemProcessTable table;
  const std::vector<std::int64_t> pids = {own_pid(), 0, -1, kMaxPid + 1, gone.pid(), zombie.pid()};
  // The second call answers the tracked processes from their pidfds rather than from /proc.
  for (int call = 1; call <= 2; ++call) {
    INFO("call " << call);
    const std::vector<ProcessInfo> infos = table.lookup_all(pids);
    REQUIRE(infos.size() == pids.size());
    for (std::size_t i = 0; i < pids.size(); ++i) {
      INFO("pid " << pids[i]);
      CHECK(describe(infos[i]) == describe(table.lookup(pids[i])));
    }
    CHECK(infos[0].liveness == Liveness::kAlive);
    CHECK(infos[0].start_time.has_value());
    for (std::size_t i = 1; i <= 4; ++i) CHECK(describe(infos[i]) == "gone no start time");
    CHECK(infos[5].liveness == Liveness::kZombie);
  }
}

TEST_CASE("lookup_all tracks a live child until it exits, then says zombie, then gone") {
  raise_file_limit_as_the_exporter_does();
  Child child = Child::waiting();
  REQUIRE(child.pid() > 0);
  const std::vector<std::int64_t> pids = {child.pid()};
  SystemProcessTable table;

  const ProcessInfo expected = table.lookup(child.pid());
  REQUIRE(expected.liveness == Liveness::kAlive);
  REQUIRE(expected.start_time.has_value());
  for (int call = 1; call <= 2; ++call) {
    INFO("call " << call);
    const std::vector<ProcessInfo> infos = table.lookup_all(pids);
    REQUIRE(infos.size() == 1);
    CHECK(describe(infos[0]) == describe(expected));
    CHECK(table.tracked() == 1);
  }

  REQUIRE(::kill(child.pid(), SIGKILL) == 0);
  REQUIRE(child.wait_exited());
  std::vector<ProcessInfo> infos = table.lookup_all(pids);
  REQUIRE(infos.size() == 1);
  CHECK(infos[0].liveness == Liveness::kZombie);
  CHECK(describe(infos[0]) == describe(table.lookup(child.pid())));
  CHECK(table.tracked() == 0);

  REQUIRE(child.reap());
  infos = table.lookup_all(pids);
  REQUIRE(infos.size() == 1);
  CHECK(describe(infos[0]) == "gone no start time");
  CHECK(table.tracked() == 0);
}

TEST_CASE("lookup_all stops tracking a pid that it is no longer asked about") {
  raise_file_limit_as_the_exporter_does();
  Child child = Child::waiting();
  REQUIRE(child.pid() > 0);
  SystemProcessTable table;

  CHECK(table.lookup_all(std::vector<std::int64_t>{own_pid(), child.pid()}).size() == 2);
  CHECK(table.tracked() == 2);
  CHECK(table.lookup_all(std::vector<std::int64_t>{child.pid()}).size() == 1);
  CHECK(table.tracked() == 1);
  CHECK(table.lookup_all({}).empty());
  CHECK(table.tracked() == 0);
}

TEST_CASE("lookup_all gives duplicate pids in one call the same answer") {
  raise_file_limit_as_the_exporter_does();
  Child child = Child::waiting();
  REQUIRE(child.pid() > 0);
  SystemProcessTable table;
  const std::vector<std::int64_t> pids = {own_pid(), child.pid(), 0,          own_pid(),
                                          0,         child.pid(), child.pid()};

  for (int call = 1; call <= 2; ++call) {
    INFO("call " << call);
    const std::vector<ProcessInfo> infos = table.lookup_all(pids);
    REQUIRE(infos.size() == pids.size());
    for (std::size_t i = 0; i < pids.size(); ++i) {
      INFO("pid " << pids[i] << " at " << i);
      CHECK(describe(infos[i]) == describe(table.lookup(pids[i])));
    }
    CHECK(infos[0].liveness == Liveness::kAlive);
    CHECK(infos[1].liveness == Liveness::kAlive);
    CHECK(infos[2].liveness == Liveness::kGone);
    CHECK(describe(infos[3]) == describe(infos[0]));
    CHECK(describe(infos[4]) == describe(infos[2]));
    CHECK(describe(infos[5]) == describe(infos[1]));
    CHECK(describe(infos[6]) == describe(infos[1]));
    CHECK(table.tracked() == 2);
  }
}

}  // namespace heartbeat_exporter
