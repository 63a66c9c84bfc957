#include "check/checker.h"

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <latch>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "heartbeat/heartbeat_cache.h"
#include "heartbeat_exporter/writer.h"
#include "support/fakes.h"
#include "support/temp_dir.h"

namespace heartbeat_exporter {
namespace {

using namespace std::chrono_literals;
using std::chrono::sys_days;
using std::chrono::year;

constexpr std::int64_t kPid = 123;
const Timestamp kNow{sys_days{year{2026} / 2 / 5} + 6h};

using testing::FakeClock;
using testing::FakeProcessTable;

// Counts lookups and remembers the last pid asked, to show when decide_health asks the table at
// all. Kept here because counting in the shared fake would make it unsafe to share across threads.
class CountingProcessTable final : public ProcessTable {
 public:
  explicit CountingProcessTable(FakeProcessTable table = FakeProcessTable())
      : answers(std::move(table)) {}
  ProcessInfo lookup(std::int64_t pid) const override {
    ++lookups;
    looked_up_pid = pid;
    return answers.lookup(pid);
  }

  FakeProcessTable answers;
  mutable int lookups = 0;
  mutable std::int64_t looked_up_pid = 0;
};

// Deletes a file when asked for the time, to tell whether "now" was taken before or after a read.
class ClockThatRemovesFile final : public Clock {
 public:
  ClockThatRemovesFile(Timestamp time, std::filesystem::path file)
      : time_(time), file_(std::move(file)) {}
  Timestamp now() const override {
    std::filesystem::remove(file_);
    return time_;
  }

 private:
  Timestamp time_;
  std::filesystem::path file_;
};

// Steps a minute ahead at every reading, and the process beats half a minute after each reading,
// before the next: a heartbeat read between two readings is 30 s younger than the later one and
// 30 s ahead of the earlier one. Tells which reading ages are measured from.
class ClockThatBeatsBetweenReadings final : public Clock {
 public:
  ClockThatBeatsBetweenReadings(Timestamp start, std::filesystem::path folder)
      : start_(start), folder_(std::move(folder)) {}
  Timestamp now() const override {
    const Timestamp time = start_ + readings_ * kStep;
    ++readings_;
    write_heartbeat_file(folder_, "my_server",
                         HeartbeatData{.process_key = "my_server",
                                       .pid = kPid,
                                       .timestamp = time + kStep / 2,
                                       .status = "running",
                                       .iteration = static_cast<std::uint64_t>(readings_)});
    return time;
  }

 private:
  static constexpr std::chrono::seconds kStep{60};
  Timestamp start_;
  std::filesystem::path folder_;
  mutable int readings_ = 0;
};

ProcessConfig process_config(double timeout_seconds = 60, bool check_pid = true) {
  ProcessConfig process;
  process.key = "my_server";
  process.heartbeat_path = "/var/lib/heartbeats/my_server.json";
  process.timeout_seconds = timeout_seconds;
  process.check_pid = check_pid;
  process.labels = {{"team", "payments"}};
  return process;
}

ReadResult heartbeat_at(Timestamp timestamp, std::string status = "running") {
  ReadResult read = testing::heartbeat_read("my_server", kPid, timestamp, std::move(status));
  read.heartbeat->iteration = 42;
  return read;
}

FakeProcessTable table_with_live_pid(std::optional<Timestamp> start_time = kNow - 24h) {
  return FakeProcessTable({{kPid, ProcessInfo{Liveness::kAlive, start_time}}});
}

FakeProcessTable table_with_zombie() {
  return FakeProcessTable({{kPid, ProcessInfo{Liveness::kZombie, kNow - 24h}}});
}

std::string heartbeat_json(std::int64_t pid, std::string_view timestamp,
                           std::string_view status = "running") {
  return "{\"pid\":" + std::to_string(pid) + ",\"timestamp\":\"" + std::string(timestamp) +
         "\",\"status\":\"" + std::string(status) + "\"}";
}

}  // namespace

TEST_CASE("every health state has its product name and label value") {
  CHECK(to_string(HealthState::kHealthy) == "HEALTHY");
  CHECK(to_string(HealthState::kTimedOut) == "TIMED_OUT");
  CHECK(to_string(HealthState::kNoHeartbeat) == "NO_HEARTBEAT");
  CHECK(to_string(HealthState::kStalePid) == "STALE_PID");
  CHECK(to_string(HealthState::kErrorStatus) == "ERROR_STATUS");
  CHECK(to_label_value(HealthState::kHealthy) == "healthy");
  CHECK(to_label_value(HealthState::kTimedOut) == "timed_out");
  CHECK(to_label_value(HealthState::kNoHeartbeat) == "no_heartbeat");
  CHECK(to_label_value(HealthState::kStalePid) == "stale_pid");
  CHECK(to_label_value(HealthState::kErrorStatus) == "error_status");
}

TEST_CASE("a report is all healthy only when every result is healthy, and an empty one is") {
  MonitorReport report;
  CHECK(report.all_healthy());
  report.results.resize(2);
  report.results[0].state = HealthState::kHealthy;
  report.results[1].state = HealthState::kHealthy;
  CHECK(report.all_healthy());
  for (HealthState state : kAllHealthStates) {
    if (state == HealthState::kHealthy) continue;
    report.results[1].state = state;
    CHECK_FALSE(report.all_healthy());
  }
}

TEST_CASE("a fresh running heartbeat from a live pid is HEALTHY with no reason or detail") {
  CountingProcessTable table(table_with_live_pid());
  CheckResult result = decide_health(process_config(), heartbeat_at(kNow - 2500ms), kNow, table);

  CHECK(result.state == HealthState::kHealthy);
  CHECK(result.reason.empty());
  CHECK(result.detail.empty());
  CHECK(result.process.key == "my_server");
  CHECK(result.process.labels == Labels{{"team", "payments"}});
  REQUIRE(result.heartbeat);
  CHECK(result.heartbeat->pid == kPid);
  CHECK(result.heartbeat->iteration == 42u);
  CHECK(result.heartbeat->timestamp == kNow - 2500ms);
  CHECK_FALSE(result.read_error);
  REQUIRE(result.age_seconds);
  CHECK(*result.age_seconds == 2.5);
  CHECK(table.lookups == 1);
  CHECK(table.looked_up_pid == kPid);
}

TEST_CASE("a failed read is NO_HEARTBEAT with the read error's name and message") {
  for (ReadError error : kAllReadErrors) {
    CountingProcessTable table(table_with_live_pid());
    CheckResult result =
        decide_health(process_config(),
                      ReadResult::fail(error, "field \"pid\": expected an integer"), kNow, table);

    CHECK(result.state == HealthState::kNoHeartbeat);
    CHECK(result.reason == to_string(error));
    CHECK(result.detail == "field \"pid\": expected an integer");
    CHECK(result.read_error == error);
    CHECK_FALSE(result.heartbeat);
    CHECK_FALSE(result.age_seconds);
    CHECK(result.process.key == "my_server");
    CHECK(table.lookups == 0);
  }
}

TEST_CASE("a failed read is NO_HEARTBEAT even when the pid is gone") {
  FakeProcessTable table;
  CheckResult result = decide_health(
      process_config(), ReadResult::fail(ReadError::kMissing, "no such file"), kNow, table);
  CHECK(result.state == HealthState::kNoHeartbeat);
  CHECK(result.read_error == ReadError::kMissing);
}

TEST_CASE(
    "a timestamp further in the future than the timeout is NO_HEARTBEAT, even with a dead "
    "pid") {
  CountingProcessTable table;
  CheckResult result = decide_health(process_config(), heartbeat_at(kNow + 120s), kNow, table);

  CHECK(result.state == HealthState::kNoHeartbeat);
  CHECK(result.reason == "timestamp_in_future");
  CHECK(result.detail == "heartbeat timestamp is 120.0 s in the future (timeout 60 s)");
  REQUIRE(result.heartbeat);
  CHECK(result.heartbeat->timestamp == kNow + 120s);
  CHECK_FALSE(result.age_seconds);
  CHECK_FALSE(result.read_error);
  CHECK(table.lookups == 0);
}

TEST_CASE("a timestamp 1 us further in the future than a fractional timeout is NO_HEARTBEAT") {
  FakeProcessTable table = table_with_live_pid();
  CheckResult result =
      decide_health(process_config(2.5), heartbeat_at(kNow + 2500001us), kNow, table);
  CHECK(result.state == HealthState::kNoHeartbeat);
  CHECK(result.detail == "heartbeat timestamp is 2.5 s in the future (timeout 2.5 s)");
}

TEST_CASE("a timestamp in the future within the timeout is judged normally with a negative age") {
  FakeProcessTable table = table_with_live_pid();

  SECTION("a live pid is HEALTHY") {
    CheckResult result = decide_health(process_config(), heartbeat_at(kNow + 30s), kNow, table);
    CHECK(result.state == HealthState::kHealthy);
    REQUIRE(result.age_seconds);
    CHECK(*result.age_seconds == -30.0);
  }
  SECTION("exactly the timeout ahead is not yet in the future") {
    CheckResult result = decide_health(process_config(), heartbeat_at(kNow + 60s), kNow, table);
    CHECK(result.state == HealthState::kHealthy);
    REQUIRE(result.age_seconds);
    CHECK(*result.age_seconds == -60.0);
  }
  SECTION("a dead pid is STALE_PID") {
    FakeProcessTable empty;
    CheckResult result = decide_health(process_config(), heartbeat_at(kNow + 30s), kNow, empty);
    CHECK(result.state == HealthState::kStalePid);
  }
}

TEST_CASE("a gone pid is STALE_PID process_gone, with the age still reported") {
  CountingProcessTable table;
  CheckResult result = decide_health(process_config(), heartbeat_at(kNow - 5s), kNow, table);

  CHECK(result.state == HealthState::kStalePid);
  CHECK(result.reason == "process_gone");
  CHECK(result.detail == "pid 123 is not running");
  REQUIRE(result.heartbeat);
  REQUIRE(result.age_seconds);
  CHECK(*result.age_seconds == 5.0);
  CHECK(table.looked_up_pid == kPid);
}

TEST_CASE("a gone pid wins over a timed out heartbeat") {
  FakeProcessTable table;
  CheckResult result = decide_health(process_config(), heartbeat_at(kNow - 1h), kNow, table);
  CHECK(result.state == HealthState::kStalePid);
  CHECK(result.reason == "process_gone");
  REQUIRE(result.age_seconds);
  CHECK(*result.age_seconds == 3600.0);
}

TEST_CASE("a gone pid wins over an error status") {
  FakeProcessTable table;
  CheckResult result =
      decide_health(process_config(), heartbeat_at(kNow - 1s, "error"), kNow, table);
  CHECK(result.state == HealthState::kStalePid);
  CHECK(result.reason == "process_gone");
}

TEST_CASE("a zombie pid is STALE_PID zombie") {
  FakeProcessTable table = table_with_zombie();
  CheckResult result = decide_health(process_config(), heartbeat_at(kNow - 1s), kNow, table);
  CHECK(result.state == HealthState::kStalePid);
  CHECK(result.reason == "zombie");
  CHECK(result.detail == "pid 123 has exited and is a zombie waiting to be reaped");
}

TEST_CASE("a pid held by a process that started more than 1 s after the heartbeat is pid_reused") {
  Timestamp heartbeat_time = kNow - 10s;
  FakeProcessTable table = table_with_live_pid(heartbeat_time + 1s + 1us);
  CheckResult result = decide_health(process_config(), heartbeat_at(heartbeat_time), kNow, table);

  CHECK(result.state == HealthState::kStalePid);
  CHECK(result.reason == "pid_reused");
  CHECK(result.detail ==
        "pid 123 now belongs to a process that started 2026-02-05T05:59:51.000001+00:00, after "
        "the heartbeat at 2026-02-05T05:59:50.000000+00:00");
  REQUIRE(result.age_seconds);
  CHECK(*result.age_seconds == 10.0);
}

TEST_CASE("a pid whose start time does not prove reuse is HEALTHY") {
  Timestamp heartbeat_time = kNow - 10s;
  std::optional<Timestamp> start_time;
  SECTION("started exactly at the 1 s tolerance after the heartbeat") {
    start_time = heartbeat_time + 1s;
  }
  SECTION("started within the tolerance after the heartbeat") {
    start_time = heartbeat_time + 999ms;
  }
  SECTION("started before the heartbeat") { start_time = heartbeat_time - 1h; }
  SECTION("start time unknown") { start_time = std::nullopt; }

  FakeProcessTable table = table_with_live_pid(start_time);
  CheckResult result = decide_health(process_config(), heartbeat_at(heartbeat_time), kNow, table);
  CHECK(result.state == HealthState::kHealthy);
  CHECK(result.reason.empty());
}

TEST_CASE("a heartbeat older than the timeout is TIMED_OUT with its age in the detail") {
  FakeProcessTable table = table_with_live_pid();
  CheckResult result = decide_health(process_config(), heartbeat_at(kNow - 95300ms), kNow, table);

  CHECK(result.state == HealthState::kTimedOut);
  CHECK(result.reason == "timed_out");
  CHECK(result.detail == "last heartbeat 95.3 s ago, timeout 60 s");
  REQUIRE(result.age_seconds);
  CHECK(*result.age_seconds == 95.3);
}

TEST_CASE("a fractional timeout is shown as configured in the detail") {
  FakeProcessTable table = table_with_live_pid();
  CheckResult result = decide_health(process_config(0.5), heartbeat_at(kNow - 2s), kNow, table);
  CHECK(result.state == HealthState::kTimedOut);
  CHECK(result.detail == "last heartbeat 2.0 s ago, timeout 0.5 s");
}

TEST_CASE("a timed out heartbeat wins over an error status") {
  FakeProcessTable table = table_with_live_pid();
  CheckResult result =
      decide_health(process_config(), heartbeat_at(kNow - 61s, "error"), kNow, table);
  CHECK(result.state == HealthState::kTimedOut);
  CHECK(result.reason == "timed_out");
}

TEST_CASE("an age of exactly the timeout is HEALTHY and 1 us more is TIMED_OUT") {
  FakeProcessTable table = table_with_live_pid();
  CHECK(decide_health(process_config(), heartbeat_at(kNow - 60s), kNow, table).state ==
        HealthState::kHealthy);
  CHECK(decide_health(process_config(), heartbeat_at(kNow - 60s - 1us), kNow, table).state ==
        HealthState::kTimedOut);
  CHECK(decide_health(process_config(0.1), heartbeat_at(kNow - 100ms), kNow, table).state ==
        HealthState::kHealthy);
  CHECK(decide_health(process_config(0.1), heartbeat_at(kNow - 100001us), kNow, table).state ==
        HealthState::kTimedOut);
}

TEST_CASE("a status other than \"running\" is ERROR_STATUS, and the detail does not repeat it") {
  FakeProcessTable table = table_with_live_pid();

  CheckResult result =
      decide_health(process_config(), heartbeat_at(kNow - 1s, "error"), kNow, table);
  CHECK(result.state == HealthState::kErrorStatus);
  CHECK(result.reason == "error_status");
  CHECK(result.detail == "status is not \"running\"");
  REQUIRE(result.heartbeat);
  CHECK(result.heartbeat->status == "error");
  REQUIRE(result.age_seconds);
  CHECK(*result.age_seconds == 1.0);

  for (const char* status : {"Running", "", "running ", "\x1b[2J"}) {
    const CheckResult other =
        decide_health(process_config(), heartbeat_at(kNow, status), kNow, table);
    CHECK(other.state == HealthState::kErrorStatus);
    CHECK(other.detail == "status is not \"running\"");
  }
}

// A run's final heartbeat, as heartbeatctl run writes it when the command has exited.
ReadResult final_heartbeat_at(Timestamp timestamp, int exit_code) {
  ReadResult read = heartbeat_at(timestamp, exit_code == 0 ? "completed" : "failed");
  read.heartbeat->exit_code = exit_code;
  read.heartbeat->started_at = timestamp - 17s;
  read.heartbeat->duration = 17s;
  return read;
}

TEST_CASE("a completed run's final heartbeat is HEALTHY with its pid gone, never asking for it") {
  CountingProcessTable table;  // knows no pid: every one is gone
  const CheckResult result =
      decide_health(process_config(), final_heartbeat_at(kNow - 59s, 0), kNow, table);
  CHECK(result.state == HealthState::kHealthy);
  CHECK(result.reason.empty());
  CHECK(table.lookups == 0);
}

TEST_CASE("a completed run stays HEALTHY until timeout_seconds, then is TIMED_OUT") {
  CountingProcessTable table;
  CHECK(decide_health(process_config(), final_heartbeat_at(kNow - 60s, 0), kNow, table).state ==
        HealthState::kHealthy);
  const CheckResult late =
      decide_health(process_config(), final_heartbeat_at(kNow - 60s - 1us, 0), kNow, table);
  CHECK(late.state == HealthState::kTimedOut);
  CHECK(late.reason == "timed_out");
}

TEST_CASE("a failed run is ERROR_STATUS naming its exit code, not STALE_PID") {
  CountingProcessTable table;
  for (const int exit_code : {1, 3, 137, 255}) {
    const CheckResult result =
        decide_health(process_config(), final_heartbeat_at(kNow - 1s, exit_code), kNow, table);
    CHECK(result.state == HealthState::kErrorStatus);
    CHECK(result.reason == "error_status");
    CHECK(result.detail == "the run ended with exit code " + std::to_string(exit_code));
  }
  CHECK(table.lookups == 0);
}

TEST_CASE("a status decides a final heartbeat's state, whatever its exit code says") {
  CountingProcessTable table;
  ReadResult failed_with_zero = final_heartbeat_at(kNow - 1s, 0);
  failed_with_zero.heartbeat->status = "failed";
  CHECK(decide_health(process_config(), failed_with_zero, kNow, table).state ==
        HealthState::kErrorStatus);
  ReadResult still_running = final_heartbeat_at(kNow - 1s, 3);
  still_running.heartbeat->status = "running";
  CHECK(decide_health(process_config(), still_running, kNow, table).state == HealthState::kHealthy);
  CHECK(table.lookups == 0);
}

TEST_CASE("without an exit code, completed is pid-checked: a gone pid is STALE_PID") {
  CountingProcessTable gone;
  CHECK(decide_health(process_config(), heartbeat_at(kNow - 1s, "completed"), kNow, gone).state ==
        HealthState::kStalePid);
  FakeProcessTable alive = table_with_live_pid();
  CHECK(decide_health(process_config(), heartbeat_at(kNow - 1s, "completed"), kNow, alive).state ==
        HealthState::kHealthy);
}

TEST_CASE("a run in progress (started_at, no exit code) is pid-checked as any heartbeat") {
  CountingProcessTable table;
  ReadResult running = heartbeat_at(kNow - 1s);
  running.heartbeat->started_at = kNow - 1h;
  const CheckResult result = decide_health(process_config(), running, kNow, table);
  CHECK(result.state == HealthState::kStalePid);
  CHECK(result.reason == "process_gone");
  CHECK(table.lookups == 1);
}

TEST_CASE("with check_pid false the process table is never asked") {
  CountingProcessTable table;
  SECTION("a dead pid with a fresh heartbeat is HEALTHY") {
    CHECK(decide_health(process_config(60, false), heartbeat_at(kNow - 1s), kNow, table).state ==
          HealthState::kHealthy);
  }
  SECTION("a dead pid with an old heartbeat is TIMED_OUT") {
    CHECK(decide_health(process_config(60, false), heartbeat_at(kNow - 61s), kNow, table).state ==
          HealthState::kTimedOut);
  }
  SECTION("a dead pid with an error status is ERROR_STATUS") {
    CHECK(
        decide_health(process_config(60, false), heartbeat_at(kNow, "error"), kNow, table).state ==
        HealthState::kErrorStatus);
  }
  SECTION("a zombie is HEALTHY") {
    table.answers = table_with_zombie();
    CHECK(decide_health(process_config(60, false), heartbeat_at(kNow - 1s), kNow, table).state ==
          HealthState::kHealthy);
  }
  CHECK(table.lookups == 0);
}

TEST_CASE("check_process reads the file and judges it with the clock's time") {
  testing::TempDir dir;
  ProcessConfig process = process_config();
  process.heartbeat_path =
      dir.write("my_server.json", heartbeat_json(kPid, "2026-02-05T05:59:30Z"));
  FakeProcessTable table = table_with_live_pid();

  CheckResult result = check_process(process, FakeClock(kNow), table);
  CHECK(result.state == HealthState::kHealthy);
  REQUIRE(result.age_seconds);
  CHECK(*result.age_seconds == 30.0);
  REQUIRE(result.heartbeat);
  CHECK(result.heartbeat->pid == kPid);
}

TEST_CASE("check_process takes the time after the read, so a heartbeat read first is judged") {
  testing::TempDir dir;
  ProcessConfig process = process_config();
  process.heartbeat_path =
      dir.write("my_server.json", heartbeat_json(kPid, "2026-02-05T06:00:00Z"));
  FakeProcessTable table = table_with_live_pid();

  // Had the clock been asked first, the file would be gone before the read.
  CheckResult result =
      check_process(process, ClockThatRemovesFile(kNow, process.heartbeat_path), table);
  CHECK(result.state == HealthState::kHealthy);
  CHECK_FALSE(std::filesystem::exists(process.heartbeat_path));
}

TEST_CASE("check_process on a missing file is NO_HEARTBEAT missing") {
  testing::TempDir dir;
  ProcessConfig process = process_config();
  process.heartbeat_path = dir / "absent.json";
  FakeProcessTable table = table_with_live_pid();

  CheckResult result = check_process(process, FakeClock(kNow), table);
  CHECK(result.state == HealthState::kNoHeartbeat);
  CHECK(result.read_error == ReadError::kMissing);
  CHECK(result.reason == to_string(ReadError::kMissing));
}

TEST_CASE(
    "check_all_processes asks the process table only for pids of heartbeats without an "
    "exit code") {
  testing::TempDir dir;
  dir.write("beats/backup.json",
            R"({"pid":456,"timestamp":"2026-02-05T05:59:59Z","status":"completed","exit_code":0})");
  dir.write("beats/report.json",
            R"({"pid":457,"timestamp":"2026-02-05T05:59:59Z","status":"failed","exit_code":3})");
  dir.write("beats/worker.json", heartbeat_json(kPid, "2026-02-05T05:59:59Z"));
  Config config;
  config.file = dir / "config.json";
  HeartbeatDirConfig beats;
  beats.path = dir / "beats";
  beats.timeout_seconds = 90;
  config.heartbeat_dirs = {beats};

  CountingProcessTable table(table_with_live_pid());
  const MonitorReport report = check_all_processes(config, FakeClock(kNow), table);
  REQUIRE(report.results.size() == 3);
  CHECK(report.results[0].state == HealthState::kHealthy);
  CHECK(report.results[1].state == HealthState::kErrorStatus);
  CHECK(report.results[2].state == HealthState::kHealthy);
  CHECK(table.lookups == 1);
  CHECK(table.looked_up_pid == kPid);
}

TEST_CASE("check_all_processes checks configured and discovered processes in key order") {
  testing::TempDir dir;
  Config config;
  config.file = dir / "config.json";

  ProcessConfig configured = process_config();
  configured.key = "b_configured";
  configured.heartbeat_path =
      dir.write("b_configured.json", heartbeat_json(kPid, "2026-02-05T05:59:50Z"));
  ProcessConfig missing = process_config();
  missing.key = "d_missing";
  missing.heartbeat_path = dir / "d_missing.json";
  config.processes = {configured, missing};

  dir.write("beats/a_fresh.json", heartbeat_json(kPid, "2026-02-05T05:59:59Z"));
  dir.write("beats/c_stale.json", heartbeat_json(kPid, "2026-02-05T05:58:00Z"));
  dir.write("beats/e_gone.json", heartbeat_json(456, "2026-02-05T05:59:59Z"));
  dir.write("beats/f_error.json", heartbeat_json(kPid, "2026-02-05T05:59:59Z", "error"));
  HeartbeatDirConfig beats;
  beats.path = dir / "beats";
  beats.timeout_seconds = 90;
  config.heartbeat_dirs = {beats};

  FakeProcessTable table = table_with_live_pid();
  MonitorReport report = check_all_processes(config, FakeClock(kNow), table);

  CHECK(report.discovery_errors.empty());
  CHECK(report.checked_at == kNow);
  CHECK(report.duration >= std::chrono::nanoseconds{0});
  CHECK_FALSE(report.all_healthy());
  REQUIRE(report.results.size() == 6);
  CHECK(report.results[0].process.key == "a_fresh");
  CHECK(report.results[0].state == HealthState::kHealthy);
  CHECK(report.results[0].process.timeout_seconds == 90);
  CHECK(report.results[1].process.key == "b_configured");
  CHECK(report.results[1].state == HealthState::kHealthy);
  CHECK(report.results[1].process.labels == Labels{{"team", "payments"}});
  CHECK(report.results[2].process.key == "c_stale");
  CHECK(report.results[2].state == HealthState::kTimedOut);
  CHECK(report.results[2].detail == "last heartbeat 120.0 s ago, timeout 90 s");
  CHECK(report.results[3].process.key == "d_missing");
  CHECK(report.results[3].state == HealthState::kNoHeartbeat);
  CHECK(report.results[3].read_error == ReadError::kMissing);
  CHECK(report.results[4].process.key == "e_gone");
  CHECK(report.results[4].state == HealthState::kStalePid);
  CHECK(report.results[4].detail == "pid 456 is not running");
  CHECK(report.results[5].process.key == "f_error");
  CHECK(report.results[5].state == HealthState::kErrorStatus);
}

TEST_CASE("check_all_processes reports a heartbeat folder that cannot be listed") {
  testing::TempDir dir;
  Config config;
  config.file = dir / "config.json";
  ProcessConfig configured = process_config();
  configured.heartbeat_path =
      dir.write("my_server.json", heartbeat_json(kPid, "2026-02-05T06:00:00Z"));
  config.processes = {configured};
  HeartbeatDirConfig absent;
  absent.path = dir / "no_such_folder";
  config.heartbeat_dirs = {absent};

  FakeProcessTable table = table_with_live_pid();
  MonitorReport report = check_all_processes(config, FakeClock(kNow), table);

  REQUIRE(report.discovery_errors.size() == 1);
  CHECK_THAT(report.discovery_errors[0], Catch::Contains(absent.path.string()));
  REQUIRE(report.results.size() == 1);
  CHECK(report.results[0].state == HealthState::kHealthy);
}

TEST_CASE(
    "check_all takes now after the reads, so a heartbeat written while reading is not ahead") {
  testing::TempDir dir;
  Config config;
  config.file = dir / "config.json";
  ProcessConfig process = process_config();
  process.heartbeat_path = heartbeat_file_path(dir.path(), "my_server");
  config.processes = {process};
  const ClockThatBeatsBetweenReadings clock(kNow, dir.path());
  const FakeProcessTable table = table_with_live_pid();

  MonitorReport report = Checker(clock, table).check_all(config);

  REQUIRE(report.results.size() == 1);
  CHECK(report.results[0].state == HealthState::kHealthy);
  REQUIRE(report.results[0].age_seconds);
  // Measured from a reading taken before the read, the same heartbeat would be 30 s ahead.
  CHECK(*report.results[0].age_seconds == 30.0);
}

TEST_CASE("check_all_processes with the system clock and process table sees this process alive") {
  testing::TempDir dir;
  Config config;
  config.file = dir / "config.json";
  ProcessConfig self = process_config();
  self.heartbeat_path = dir.write(
      "my_server.json", heartbeat_json(::getpid(), format_timestamp(SystemClock().now())));
  config.processes = {self};

  MonitorReport report = check_all_processes(config);

  REQUIRE(report.results.size() == 1);
  CHECK(report.results[0].state == HealthState::kHealthy);
  CHECK(report.results[0].detail.empty());
  CHECK(report.all_healthy());
}

namespace {

constexpr std::int64_t kZombiePid = 200;
constexpr std::int64_t kReusedPid = 300;
constexpr std::int64_t kDeadPid = 456;
// Close after the timestamps of the fuzz corpus's heartbeats (2026-02-05T06:17:29.601049Z).
const Timestamp kCorpusNow{sys_days{year{2026} / 2 / 5} + 6h + 18min};

// A live, a zombie and a reused pid, for mixed_heartbeat() and for the fuzz corpus.
FakeProcessTable mixed_process_table(Timestamp now) {
  return FakeProcessTable({
      {kPid, {Liveness::kAlive, now - 24h}},
      {kZombiePid, {Liveness::kZombie, now - 24h}},
      {kReusedPid, {Liveness::kAlive, now - 1s}},
      // The pids of the fuzz corpus: running, a zombie, reused.
      {12346, {Liveness::kAlive, now - 24h}},
      {12348, {Liveness::kZombie, now - 24h}},
      {12349, {Liveness::kAlive, now - 1s}},
  });
}

// The reason each file of mixed_heartbeat(i) gets, by i % size.
const std::vector<std::string> kMixedReasons = {
    "",       "error_status", "invalid_json", "missing_field",      "process_gone",
    "zombie", "pid_reused",   "timed_out",    "timestamp_in_future"};

// Heartbeat i of a folder that holds every verdict in turn, with ages that differ per file.
std::string mixed_heartbeat(std::size_t i, Timestamp now) {
  const auto jitter = std::chrono::milliseconds{static_cast<std::int64_t>(i * 37 % 20000)};
  auto ago = [&](std::chrono::microseconds age) { return format_timestamp(now - age); };
  switch (i % kMixedReasons.size()) {
    case 0:
      return heartbeat_json(kPid, ago(jitter));
    case 1:
      return heartbeat_json(kPid, ago(jitter), "failed: job " + std::to_string(i));
    case 2:
      return "{\"pid\": " + std::to_string(i);
    case 3:
      return "{\"timestamp\":\"" + ago(jitter) + "\",\"status\":\"running\"}";
    case 4:
      return heartbeat_json(kDeadPid, ago(jitter));
    case 5:
      return heartbeat_json(kZombiePid, ago(jitter));
    case 6:
      return heartbeat_json(kReusedPid, ago(30s + jitter));
    case 7:
      return heartbeat_json(kPid, ago(61s + jitter));
    default:
      return heartbeat_json(kPid, format_timestamp(now + 2min + jitter));
  }
}

std::string numbered(std::string_view prefix, std::size_t i) {
  char digits[16];
  std::snprintf(digits, sizeof digits, "%04zu", i);
  return std::string(prefix) + digits + ".json";
}

// Writes `checked` mixed heartbeats to <dir>/beats and `unchecked` fresh ones of a dead pid to
// <dir>/unchecked (check_pid false), and returns a config that discovers both folders.
Config mixed_config(const testing::TempDir& dir, std::size_t checked, std::size_t unchecked,
                    Timestamp now) {
  Config config;
  config.file = dir / "config.json";
  for (std::size_t i = 0; i < checked; ++i) {
    dir.write(numbered("beats/beat_", i), mixed_heartbeat(i, now));
  }
  for (std::size_t i = 0; i < unchecked; ++i) {
    dir.write(numbered("unchecked/unchecked_", i),
              heartbeat_json(kDeadPid, format_timestamp(now - 1s)));
  }
  HeartbeatDirConfig beats;
  beats.path = dir / "beats";
  beats.labels = {{"team", "batch"}};
  HeartbeatDirConfig unchecked_dir;
  unchecked_dir.path = dir / "unchecked";
  unchecked_dir.timeout_seconds = 30;
  unchecked_dir.check_pid = false;
  config.heartbeat_dirs = {beats, unchecked_dir};
  return config;
}

const std::filesystem::path kCorpus =
    std::filesystem::path(HEARTBEAT_SOURCE_DIR) / "tests/fuzz/corpus/heartbeat";

// Adds what a cache can reuse to a config: the fuzz corpus's heartbeats, last changed long before
// the test ran, and <dir>/links/swapped.json, a symlink to one of them in a folder that follows
// symlinks. A fresh file never is.
void add_settled_files(Config& config, const testing::TempDir& dir) {
  std::filesystem::create_directories(dir / "links");
  std::filesystem::create_symlink(kCorpus / "healthy_minimal.json", dir / "links/swapped.json");
  HeartbeatDirConfig links;
  links.path = dir / "links";
  links.follow_symlinks = true;
  HeartbeatDirConfig corpus;
  corpus.path = kCorpus;
  config.heartbeat_dirs.push_back(links);
  config.heartbeat_dirs.push_back(corpus);
}

// Whether a HeartbeatCache with the Checker's racy window reuses a corpus file, so that a test
// over the corpus exercises reuse rather than only fresh reads.
bool corpus_is_reused() {
  HeartbeatCache cache;
  std::size_t reused = 0;
  for (int pass = 0; pass < 2; ++pass) {
    auto scrape = cache.begin(1);
    scrape.read(0, kCorpus / "healthy_minimal.json");
    reused = scrape.reused();
    cache.commit(std::move(scrape));
  }
  return reused == 1;
}

// Every field of a result on one line, the age exactly.
std::string describe(const CheckResult& result) {
  std::string text = result.process.key + " path=" + result.process.heartbeat_path.string() +
                     " timeout=" + std::to_string(result.process.timeout_seconds) +
                     " check_pid=" + std::to_string(result.process.check_pid) + " labels=";
  for (const auto& [name, value] : result.process.labels) text += name + ":" + value + ",";
  text += " state=" + std::string(to_string(result.state)) + " reason=" + result.reason +
          " detail=" + result.detail;
  if (result.heartbeat) {
    const HeartbeatData& heartbeat = *result.heartbeat;
    text += " heartbeat=" + heartbeat.process_key.value_or("-") + "," +
            std::to_string(heartbeat.pid) + "," + format_timestamp(heartbeat.timestamp) + "," +
            heartbeat.status + "," +
            (heartbeat.iteration ? std::to_string(*heartbeat.iteration) : "-");
  }
  if (result.read_error) text += " read_error=" + std::string(to_string(*result.read_error));
  if (result.age_seconds) {
    char age[32];
    auto end = std::to_chars(age, age + sizeof age, *result.age_seconds).ptr;
    text += " age=" + std::string(age, end);
  }
  return text;
}

void check_same_results(const MonitorReport& actual, const MonitorReport& expected) {
  CHECK(actual.discovery_errors == expected.discovery_errors);
  CHECK(actual.checked_at == expected.checked_at);
  REQUIRE(actual.results.size() == expected.results.size());
  std::size_t differing = 0;
  for (std::size_t i = 0; i < expected.results.size(); ++i) {
    const std::string got = describe(actual.results[i]);
    const std::string wanted = describe(expected.results[i]);
    if (got == wanted) continue;
    // Only the first few, so that one broken rule does not print thousands of failures.
    if (++differing <= 3) CHECK(got == wanted);
  }
  CHECK(differing == 0);
}

std::map<std::string, std::size_t> count_reasons(const MonitorReport& report) {
  std::map<std::string, std::size_t> counts;
  for (const CheckResult& result : report.results) ++counts[result.reason];
  return counts;
}

const CheckResult& result_for(const MonitorReport& report, std::string_view key) {
  auto found = std::find_if(report.results.begin(), report.results.end(),
                            [&](const CheckResult& result) { return result.process.key == key; });
  REQUIRE(found != report.results.end());
  return *found;
}

}  // namespace

TEST_CASE("a parallel Checker with 4 threads gives exactly check_all_processes' results",
          "[threads]") {
  testing::TempDir dir;
  const Config config = mixed_config(dir, 1800, 200, kNow);
  const FakeProcessTable table = mixed_process_table(kNow);
  const FakeClock clock(kNow);

  const MonitorReport serial = check_all_processes(config, clock, table);
  const Checker checker(clock, table, CheckerOptions{4, false});
  REQUIRE(checker.threads() == 4);
  const MonitorReport parallel = checker.check_all(config);

  check_same_results(parallel, serial);
  CHECK(parallel.discovery_errors.empty());
  REQUIRE(parallel.results.size() == 2000);
  CHECK(parallel.results.front().process.key == "beat_0000");
  CHECK(parallel.results.back().process.key == "unchecked_0199");
  std::map<std::string, std::size_t> expected;
  for (const std::string& reason : kMixedReasons) expected[reason] = 200;
  expected[""] += 200;  // the unchecked folder's dead pids
  CHECK(count_reasons(parallel) == expected);
}

TEST_CASE("a Checker that reuses unchanged files answers like a fresh check, and sees a rename") {
  // Without it this test would compare fresh reads with fresh reads only.
  REQUIRE(corpus_is_reused());
  testing::TempDir dir;
  Config config = mixed_config(dir, 90, 10, kCorpusNow);
  add_settled_files(config, dir);
  HeartbeatData renamed;
  renamed.pid = kPid;
  renamed.timestamp = kCorpusNow - 5s;
  renamed.status = "running";
  write_heartbeat_file(dir / "beats", "renamed", renamed);
  const FakeProcessTable table = mixed_process_table(kCorpusNow);
  const FakeClock clock(kCorpusNow);
  const Checker checker(clock, table, CheckerOptions{2, true});

  const MonitorReport fresh = check_all_processes(config, clock, table);
  const MonitorReport first = checker.check_all(config);
  const MonitorReport second = checker.check_all(config);
  check_same_results(first, fresh);
  check_same_results(second, fresh);
  CHECK(result_for(second, "swapped").state == HealthState::kHealthy);
  CHECK(result_for(second, "renamed").state == HealthState::kHealthy);
  CHECK(result_for(second, "stale_zombie").reason == "zombie");
  CHECK(result_for(second, "stale_pid_reused").reason == "pid_reused");

  std::filesystem::create_symlink(kCorpus / "error_status.json", dir / "links/swapped.tmp");
  std::filesystem::rename(dir / "links/swapped.tmp", dir / "links/swapped.json");
  renamed.status = "stopped";
  write_heartbeat_file(dir / "beats", "renamed", renamed);
  const MonitorReport changed = checker.check_all(config);
  check_same_results(changed, check_all_processes(config, clock, table));
  CHECK(result_for(changed, "swapped").state == HealthState::kErrorStatus);
  CHECK(result_for(changed, "swapped").heartbeat->status == "failed: disk full");
  CHECK(result_for(changed, "renamed").state == HealthState::kErrorStatus);
  CHECK(result_for(changed, "renamed").heartbeat->status == "stopped");
}

TEST_CASE("concurrent check_all calls on one Checker that reuses files all give serial results",
          "[threads]") {
  REQUIRE(corpus_is_reused());
  testing::TempDir dir;
  Config config = mixed_config(dir, 900, 100, kCorpusNow);
  add_settled_files(config, dir);
  const FakeProcessTable table = mixed_process_table(kCorpusNow);
  const FakeClock clock(kCorpusNow);
  const MonitorReport serial = check_all_processes(config, clock, table);
  const Checker checker(clock, table, CheckerOptions{2, true});
  // A first call fills the cache, so that the concurrent ones also share reused entries.
  check_same_results(checker.check_all(config), serial);

  constexpr int kCallers = 4;
  constexpr int kCallsEach = 3;
  std::vector<std::vector<MonitorReport>> reports(kCallers);
  std::latch start(kCallers);
  {
    std::vector<std::jthread> callers;
    for (int caller = 0; caller < kCallers; ++caller) {
      callers.emplace_back([&, caller] {
        start.arrive_and_wait();
        for (int call = 0; call < kCallsEach; ++call) {
          reports[caller].push_back(checker.check_all(config));
        }
      });
    }
  }

  for (int caller = 0; caller < kCallers; ++caller) {
    REQUIRE(reports[caller].size() == kCallsEach);
    for (int call = 0; call < kCallsEach; ++call) {
      INFO("caller " << caller << ", call " << call);
      check_same_results(reports[caller][call], serial);
    }
  }
}

}  // namespace heartbeat_exporter
