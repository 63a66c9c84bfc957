#include "heartbeat_exporter/process_table.h"

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <string>

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

}  // namespace heartbeat_exporter
