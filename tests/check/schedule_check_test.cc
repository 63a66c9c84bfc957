// Rule 3 for jobs on a schedule: late once the time the job was due has passed by its grace,
// with timeout_seconds bounding only a run in progress; and the deadline every heartbeat gets.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "check/checker.h"
#include "heartbeat_exporter/writer.h"
#include "support/fakes.h"
#include "support/temp_dir.h"

namespace heartbeat_exporter {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::FakeProcessTable;

constexpr std::int64_t kPid = 321;

Timestamp at(std::string_view text) {
  auto parsed = parse_timestamp(text);
  INFO(text);
  REQUIRE(parsed.has_value());
  return *parsed;
}

std::shared_ptr<const Schedule> schedule_of(std::string_view expression,
                                            std::string_view zone = "UTC") {
  auto cron = parse_cron(expression);
  REQUIRE(cron.cron.has_value());
  auto found = find_time_zone(zone);
  REQUIRE(found.zone != nullptr);
  return std::make_shared<const Schedule>(std::move(*cron.cron), found.zone);
}

ProcessConfig job(std::shared_ptr<const Schedule> schedule, double grace_seconds,
                  double timeout_seconds = 60) {
  ProcessConfig process;
  process.key = "backup";
  process.heartbeat_path = "/var/lib/heartbeats/backup.json";
  process.timeout_seconds = timeout_seconds;
  // The runs' pids are gone between runs; the pid rule is not what these tests are about.
  process.check_pid = false;
  process.schedule = std::move(schedule);
  process.grace_seconds = grace_seconds;
  return process;
}

ReadResult heartbeat_at(Timestamp timestamp, std::string status = "running") {
  return testing::heartbeat_read("backup", kPid, timestamp, std::move(status));
}

const FakeProcessTable kNoProcesses;

TEST_CASE("a scheduled job is healthy before and inside each grace window and late after it") {
  // A nightly 02:30 job in Berlin with 10 minutes of grace. Its heartbeats say "running" (as a
  // job that beats when it is done does); the timeout of 3 days never speaks first here.
  const ProcessConfig process = job(schedule_of("30 2 * * *", "Europe/Berlin"), 600, 3 * 86400);
  struct Row {
    const char* heartbeat;
    const char* now;
    HealthState state;
    const char* deadline;  // the due time plus grace
  };
  const auto row = GENERATE(values<Row>({
      // An ordinary night: due 02:30 CET, late after 02:40.
      {"2026-03-27T02:31:00+01:00", "2026-03-28T02:29:00+01:00", HealthState::kHealthy,
       "2026-03-28T02:40:00+01:00"},
      {"2026-03-27T02:31:00+01:00", "2026-03-28T02:35:00+01:00", HealthState::kHealthy,
       "2026-03-28T02:40:00+01:00"},
      {"2026-03-27T02:31:00+01:00", "2026-03-28T02:40:00+01:00", HealthState::kHealthy,
       "2026-03-28T02:40:00+01:00"},
      {"2026-03-27T02:31:00+01:00", "2026-03-28T02:40:00.000001+01:00", HealthState::kTimedOut,
       "2026-03-28T02:40:00+01:00"},
      // A heartbeat at the due time itself counts for that run.
      {"2026-03-28T02:30:00+01:00", "2026-03-28T12:00:00+01:00", HealthState::kHealthy,
       "2026-03-29T03:10:00+02:00"},
      // Spring: 02:30 does not exist on 2026-03-29; the run is due at 03:00 CEST.
      {"2026-03-28T02:32:00+01:00", "2026-03-29T03:05:00+02:00", HealthState::kHealthy,
       "2026-03-29T03:10:00+02:00"},
      {"2026-03-28T02:32:00+01:00", "2026-03-29T03:10:00.000001+02:00", HealthState::kTimedOut,
       "2026-03-29T03:10:00+02:00"},
      {"2026-03-29T03:00:30+02:00", "2026-03-29T03:20:00+02:00", HealthState::kHealthy,
       "2026-03-30T02:40:00+02:00"},
      // Autumn: 02:30 happens twice on 2026-10-25 and is due at the first, CEST.
      {"2026-10-24T02:31:00+02:00", "2026-10-25T02:39:00+02:00", HealthState::kHealthy,
       "2026-10-25T02:40:00+02:00"},
      {"2026-10-24T02:31:00+02:00", "2026-10-25T02:45:00+02:00", HealthState::kTimedOut,
       "2026-10-25T02:40:00+02:00"},
      // The second 02:30 is no new run: still late, and a heartbeat then serves the first.
      {"2026-10-24T02:31:00+02:00", "2026-10-25T02:35:00+01:00", HealthState::kTimedOut,
       "2026-10-25T02:40:00+02:00"},
      {"2026-10-25T02:30:00+01:00", "2026-10-25T12:00:00+01:00", HealthState::kHealthy,
       "2026-10-26T02:40:00+01:00"},
  }));
  INFO("heartbeat " << row.heartbeat << ", now " << row.now);
  CheckResult result =
      decide_health(process, heartbeat_at(at(row.heartbeat)), at(row.now), kNoProcesses);
  CHECK(result.state == row.state);
  REQUIRE(result.deadline_seconds.has_value());
  CHECK(*result.deadline_seconds == to_unix_seconds(at(row.deadline)));
  CHECK(result.reason == (row.state == HealthState::kTimedOut ? "missed_schedule" : ""));
}

TEST_CASE("a missed run names the time it was due, the schedule and the grace") {
  const ProcessConfig process = job(schedule_of("0 2 * * *", "America/New_York"), 300, 86400 * 7);
  // Spring in New York: 02:00 on 2026-03-08 does not exist, so the run is due at 03:00 EDT.
  CheckResult result = decide_health(process, heartbeat_at(at("2026-03-07T02:01:00-05:00")),
                                     at("2026-03-08T04:00:00-04:00"), kNoProcesses);
  CHECK(result.state == HealthState::kTimedOut);
  CHECK(result.reason == "missed_schedule");
  CHECK(result.detail ==
        "no heartbeat since the run due at 2026-03-08T07:00:00.000000+00:00 (schedule \"0 2 * * "
        "*\" in America/New_York, grace 300 s); last heartbeat 89940.0 s ago");
}

TEST_CASE("timeout_seconds bounds a scheduled run in progress: a hung run is TIMED_OUT") {
  const ProcessConfig process = job(schedule_of("@daily"), 300, 60);
  const Timestamp beat = at("2026-12-02T00:00:10Z");
  CheckResult healthy = decide_health(process, heartbeat_at(beat), beat + 60s, kNoProcesses);
  CHECK(healthy.state == HealthState::kHealthy);
  CheckResult hung = decide_health(process, heartbeat_at(beat), beat + 61s, kNoProcesses);
  CHECK(hung.state == HealthState::kTimedOut);
  CHECK(hung.reason == "timed_out");
  CHECK(hung.detail == "run in progress: last heartbeat 61.0 s ago, timeout 60 s");
  REQUIRE(hung.deadline_seconds.has_value());
  CHECK(*hung.deadline_seconds == to_unix_seconds(beat + 60s));
}

TEST_CASE("a finished run is judged by its schedule alone, however old its heartbeat") {
  // "done" stands for any status but "running": the timeout of 60 s does not apply to it.
  const ProcessConfig process = job(schedule_of("@daily"), 300, 60);
  const Timestamp beat = at("2026-12-02T00:05:00Z");
  CheckResult noon =
      decide_health(process, heartbeat_at(beat, "done"), at("2026-12-02T12:00:00Z"), kNoProcesses);
  CHECK(noon.state == HealthState::kErrorStatus);
  REQUIRE(noon.deadline_seconds.has_value());
  CHECK(*noon.deadline_seconds == to_unix_seconds(at("2026-12-03T00:05:00Z")));
  CheckResult late = decide_health(process, heartbeat_at(beat, "done"),
                                   at("2026-12-03T00:05:00.000001Z"), kNoProcesses);
  CHECK(late.state == HealthState::kTimedOut);
  CHECK(late.reason == "missed_schedule");
}

TEST_CASE("when the timeout and the schedule both bound a run, the earlier one is the deadline") {
  // A run beating at 23:59:30 with a timeout of an hour: the midnight run is due first.
  const ProcessConfig process = job(schedule_of("@daily"), 300, 3600);
  const Timestamp beat = at("2026-12-01T23:59:30Z");
  CheckResult result =
      decide_health(process, heartbeat_at(beat), at("2026-12-02T00:05:01Z"), kNoProcesses);
  CHECK(result.state == HealthState::kTimedOut);
  CHECK(result.reason == "missed_schedule");
  REQUIRE(result.deadline_seconds.has_value());
  CHECK(*result.deadline_seconds == to_unix_seconds(at("2026-12-02T00:05:00Z")));
  // The other way round: a run beating at 00:10 with a timeout of a minute.
  const ProcessConfig short_timeout = job(schedule_of("@daily"), 300, 60);
  CheckResult hung = decide_health(short_timeout, heartbeat_at(at("2026-12-02T00:10:00Z")),
                                   at("2026-12-02T00:11:01Z"), kNoProcesses);
  CHECK(hung.reason == "timed_out");
  REQUIRE(hung.deadline_seconds.has_value());
  CHECK(*hung.deadline_seconds == to_unix_seconds(at("2026-12-02T00:11:00Z")));
}

TEST_CASE("a process without a schedule has its timestamp plus timeout as its deadline") {
  ProcessConfig process = job(nullptr, 300, 90);
  const Timestamp beat = at("2026-12-02T10:00:00.5Z");
  CheckResult result = decide_health(process, heartbeat_at(beat, "done"), beat + 1s, kNoProcesses);
  REQUIRE(result.deadline_seconds.has_value());
  CHECK(*result.deadline_seconds == to_unix_seconds(beat) + 90);
}

TEST_CASE("a deadline is set for a dead process too, and not without a heartbeat") {
  ProcessConfig process = job(schedule_of("@hourly"), 60, 60);
  process.check_pid = true;
  const Timestamp beat = at("2026-12-02T10:00:05Z");
  CheckResult dead = decide_health(process, heartbeat_at(beat), beat + 1s, kNoProcesses);
  CHECK(dead.state == HealthState::kStalePid);
  REQUIRE(dead.deadline_seconds.has_value());
  CHECK(*dead.deadline_seconds == to_unix_seconds(beat + 60s));

  CheckResult missing = decide_health(
      process, ReadResult::fail(ReadError::kMissing, "no such file"), beat, kNoProcesses);
  CHECK(missing.state == HealthState::kNoHeartbeat);
  CHECK_FALSE(missing.deadline_seconds.has_value());
  // A timestamp too far in the future is no heartbeat either.
  CheckResult future = decide_health(process, heartbeat_at(beat + 61s), beat, kNoProcesses);
  CHECK(future.state == HealthState::kNoHeartbeat);
  CHECK_FALSE(future.deadline_seconds.has_value());
}

TEST_CASE("a heartbeat from year 1 is judged against the slowest schedule in bounded time") {
  // A writer may name any timestamp from year 1 on; the search from it stays bounded.
  const ProcessConfig process = job(schedule_of("0 0 29 2 */7", "America/New_York"), 300);
  CheckResult result = decide_health(process, heartbeat_at(at("0001-01-01T00:00:00Z"), "done"),
                                     at("2026-12-02T00:00:00Z"), kNoProcesses);
  CHECK(result.state == HealthState::kTimedOut);
  CHECK(result.reason == "missed_schedule");
  REQUIRE(result.deadline_seconds.has_value());
  CHECK(*result.deadline_seconds < to_unix_seconds(at("0030-01-01T00:00:00Z")));
}

TEST_CASE("processes of a scheduled folder are judged by the folder's schedule on a fake clock") {
  testing::TempDir dir;
  std::filesystem::create_directories(dir / "jobs");
  write_heartbeat_file(dir / "jobs", "report", *heartbeat_at(at("2026-12-02T06:00:20Z")).heartbeat);
  Config config;
  HeartbeatDirConfig jobs;
  jobs.path = dir / "jobs";
  jobs.check_pid = false;
  jobs.timeout_seconds = 86400;
  jobs.schedule = schedule_of("0 */6 * * *");
  jobs.grace_seconds = 120;
  config.heartbeat_dirs = {jobs};

  FakeClock clock(at("2026-12-02T12:02:00Z"));
  MonitorReport inside = check_all_processes(config, clock, kNoProcesses);
  REQUIRE(inside.results.size() == 1);
  CHECK(inside.results[0].state == HealthState::kHealthy);

  clock.time = at("2026-12-02T12:02:01Z");
  MonitorReport after = check_all_processes(config, clock, kNoProcesses);
  REQUIRE(after.results.size() == 1);
  CHECK(after.results[0].state == HealthState::kTimedOut);
  CHECK(after.results[0].reason == "missed_schedule");
}

}  // namespace
}  // namespace heartbeat_exporter
