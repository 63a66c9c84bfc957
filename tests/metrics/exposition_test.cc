#include "metrics/exposition.h"

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/serializer_oracle.h"

namespace heartbeat_exporter {
namespace {

using namespace std::chrono_literals;
using std::chrono::sys_days;
using std::chrono::year;

// 1770271200 seconds since the epoch.
const Timestamp kHeartbeatTime{sys_days{year{2026} / 2 / 5} + 6h};

std::string serializer_text(const MonitorReport& report) { return testing::oracle_text(report); }

std::string sample_value(double value) {
  std::string out;
  append_sample_value(out, value);
  return out;
}

// What TextSerializer writes for `value` as the value of an unlabelled gauge.
std::string serializer_value(double value) {
  prometheus::MetricFamily family;
  family.name = "x";
  family.type = prometheus::MetricType::Gauge;
  prometheus::ClientMetric metric;
  metric.gauge.value = value;
  family.metric.push_back(metric);
  std::string text = prometheus::TextSerializer().Serialize({family});
  const std::string_view head = "# TYPE x gauge\nx ";
  REQUIRE(text.substr(0, head.size()) == head);
  REQUIRE(text.back() == '\n');
  return text.substr(head.size(), text.size() - head.size() - 1);
}

CheckResult result_of(std::string key, HealthState state) {
  CheckResult result;
  result.process.key = std::move(key);
  result.process.heartbeat_path = "/var/lib/heartbeats/" + result.process.key + ".json";
  result.process.timeout_seconds = 30;
  result.state = state;
  HeartbeatData heartbeat;
  heartbeat.pid = 4242;
  heartbeat.timestamp = kHeartbeatTime + 250ms;
  heartbeat.status = state == HealthState::kErrorStatus ? "error" : "running";
  heartbeat.iteration = 7;
  result.heartbeat = heartbeat;
  result.age_seconds = 1.5;
  return result;
}

CheckResult unread_result(std::string key) {
  CheckResult result = result_of(std::move(key), HealthState::kNoHeartbeat);
  result.heartbeat.reset();
  result.age_seconds.reset();
  result.read_error = ReadError::kMissing;
  result.reason = "missing";
  return result;
}

std::shared_ptr<const Schedule> schedule_of(std::string_view expression, std::string_view zone) {
  auto cron = parse_cron(expression);
  REQUIRE(cron.cron.has_value());
  return std::make_shared<const Schedule>(std::move(*cron.cron), find_time_zone(zone).zone);
}

MonitorReport report_of(std::vector<CheckResult> results) {
  MonitorReport report;
  report.results = std::move(results);
  report.checked_at = kHeartbeatTime;
  return report;
}

// One process in each state, and each way a family can lack a process's series.
MonitorReport every_case_report() {
  auto timed_out = result_of("timed-out", HealthState::kTimedOut);
  timed_out.age_seconds = 95.000123;
  auto future = result_of("future", HealthState::kNoHeartbeat);
  future.heartbeat->timestamp = kHeartbeatTime + 1h;
  future.age_seconds.reset();
  future.reason = "timestamp_in_future";
  auto no_iteration = result_of("no-iteration", HealthState::kHealthy);
  no_iteration.heartbeat->iteration.reset();
  no_iteration.age_seconds = -0.25;
  auto stale = result_of("stale", HealthState::kStalePid);
  stale.heartbeat->pid = 4194304;
  stale.heartbeat->iteration = std::numeric_limits<std::uint64_t>::max();
  auto error_status = result_of("error", HealthState::kErrorStatus);
  error_status.process.timeout_seconds = 0.1 + 0.2;
  error_status.heartbeat->timestamp = kHeartbeatTime + 123456us;
  return report_of({result_of("a", HealthState::kHealthy), error_status, future, no_iteration,
                    stale, timed_out, unread_result("unread")});
}

MonitorReport labelled_report() {
  auto quoted = result_of(R"(say "hi" \ C:\dir)", HealthState::kHealthy);
  quoted.process.labels = {{"env", "line one\nline two"}, {"team", "payments \"core\""}};
  auto unicode = result_of("größe-😀", HealthState::kTimedOut);
  unicode.process.labels = {{"owner", "zoë\\"}, {"tab", "a\tb"}};
  auto plain = result_of("plain", HealthState::kStalePid);
  plain.process.labels = {{"a_first", ""}, {"zone", "eu-1"}};
  return report_of({quoted, unicode, plain});
}

// A seeded report with every state, optional part and kind of label value mixed at random.
MonitorReport random_report(std::size_t processes, std::uint32_t seed) {
  std::mt19937_64 random(seed);
  auto chance = [&](int percent) {
    return std::uniform_int_distribution<int>(0, 99)(random) < percent;
  };
  const std::vector<std::string> fragments = {"a", "job", "\"", "\\", "\n", "é", "😀", "-", "_9"};
  auto text = [&](std::size_t parts) {
    std::string out;
    for (std::size_t i = 0; i < parts; ++i) {
      out += fragments[std::uniform_int_distribution<std::size_t>(0, fragments.size() - 1)(random)];
    }
    return out;
  };
  const std::vector<double> timeouts = {60, 0.5, 12.25, 1e-3, 86400, 0.1 + 0.2, 1e21};
  const std::vector<std::shared_ptr<const Schedule>> schedules = {
      schedule_of("@daily", "UTC"), schedule_of("*/7 1-5/2 * JAN,jul sun", "Europe/Berlin"),
      schedule_of(" 0\t2 * * *", "America/New_York")};
  std::vector<CheckResult> results;
  for (std::size_t i = 0; i < processes; ++i) {
    auto state = kAllHealthStates[std::uniform_int_distribution<std::size_t>(0, 4)(random)];
    auto result = result_of("proc-" + std::to_string(100000 + i) + text(i % 3), state);
    result.process.timeout_seconds =
        timeouts[std::uniform_int_distribution<std::size_t>(0, timeouts.size() - 1)(random)];
    if (chance(50)) result.process.labels["env"] = text(2);
    if (chance(30)) result.process.labels["team"] = text(4);
    if (chance(5)) {
      results.push_back(unread_result(result.process.key));
      continue;
    }
    result.heartbeat->pid = std::uniform_int_distribution<std::int64_t>(1, kMaxPid)(random);
    result.heartbeat->timestamp =
        kHeartbeatTime + std::chrono::microseconds(std::uniform_int_distribution<std::int64_t>(
                             -1'000'000'000, 0)(random));
    result.age_seconds = std::uniform_real_distribution<double>(0, 1000)(random);
    result.deadline_seconds = 1.7e9 + std::uniform_real_distribution<double>(0, 1e6)(random);
    if (chance(5)) {
      result.age_seconds.reset();
      result.deadline_seconds.reset();
    }
    if (chance(20)) {
      result.process.schedule =
          schedules[std::uniform_int_distribution<std::size_t>(0, schedules.size() - 1)(random)];
    }
    result.heartbeat->iteration = random();
    if (chance(50)) result.heartbeat->iteration = *result.heartbeat->iteration % 100000;
    if (chance(10)) result.heartbeat->iteration.reset();
    if (chance(20)) {
      result.heartbeat->exit_code = std::uniform_int_distribution<int>(0, kMaxExitCode)(random);
      result.heartbeat->duration = std::chrono::microseconds(random() % 100'000'000'000);
    }
    if (chance(20)) result.heartbeat->last_success = result.heartbeat->timestamp - 1h;
    results.push_back(std::move(result));
  }
  return report_of(std::move(results));
}

TEST_CASE("sample values are written as prometheus-cpp 1.0.1 writes them: %.16g, Nan, +Inf") {
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(sample_value(1) == "1");
  CHECK(sample_value(0) == "0");
  CHECK(sample_value(-0.0) == "-0");
  CHECK(sample_value(1.5) == "1.5");
  CHECK(sample_value(-4242) == "-4242");
  CHECK(sample_value(1e15) == "1000000000000000");
  CHECK(sample_value(9007199254740993.0) == "9007199254740992");
  CHECK(sample_value(1e16) == "1e+16");
  CHECK(sample_value(1e21) == "1e+21");
  CHECK(sample_value(18446744073709551615.0) == "1.844674407370955e+19");
  CHECK(sample_value(1700000000.123456) == "1700000000.123456");
  CHECK(sample_value(1770271200.1234567) == "1770271200.123457");
  CHECK(sample_value(0.1 + 0.2) == "0.3");
  CHECK(sample_value(1.0 / 3) == "0.3333333333333333");
  CHECK(sample_value(0.0001) == "0.0001");
  CHECK(sample_value(1e-5) == "1e-05");
  CHECK(sample_value(-1.2345678901234567e-308) == "-1.234567890123457e-308");
  CHECK(sample_value(std::nan("")) == "Nan");
  CHECK(sample_value(inf) == "+Inf");
  CHECK(sample_value(-inf) == "-Inf");

  for (double value : {1.0,
                       0.0,
                       -0.0,
                       1.5,
                       1e15,
                       1e16,
                       9007199254740993.0,
                       1e21,
                       1e300,
                       18446744073709551615.0,
                       1700000000.123456,
                       1770271200.1234567,
                       0.1 + 0.2,
                       1.0 / 3,
                       0.0001,
                       1e-5,
                       5e-324,
                       -2.5e-7,
                       123456789.98765432,
                       std::nan(""),
                       inf,
                       -inf}) {
    INFO(value);
    CHECK(sample_value(value) == serializer_value(value));
  }
}

TEST_CASE("a one-process report renders exactly the expected exposition") {
  auto result = result_of("web \"1\"", HealthState::kTimedOut);
  result.process.labels = {{"team", "a\\b\nc"}};
  result.heartbeat->timestamp = kHeartbeatTime + 500ms;
  const std::string labels = R"({process="web \"1\"",team="a\\b\nc")";

  auto text = render_process_families(report_of({result}), 1);

  CHECK(
      text.joined() ==
      "# HELP heartbeat_state Health state of a monitored process: 1 for its current state, 0 "
      "for the others.\n"
      "# TYPE heartbeat_state gauge\n"
      "heartbeat_state" +
          labels +
          ",state=\"healthy\"} 0\n"
          "heartbeat_state" +
          labels +
          ",state=\"timed_out\"} 1\n"
          "heartbeat_state" +
          labels +
          ",state=\"no_heartbeat\"} 0\n"
          "heartbeat_state" +
          labels +
          ",state=\"stale_pid\"} 0\n"
          "heartbeat_state" +
          labels +
          ",state=\"error_status\"} 0\n"
          "# HELP heartbeat_age_seconds Seconds since the process's last heartbeat (now minus its "
          "timestamp).\n"
          "# TYPE heartbeat_age_seconds gauge\n"
          "heartbeat_age_seconds" +
          labels +
          "} 1.5\n"
          "# HELP heartbeat_last_timestamp_seconds Unix time of the process's last heartbeat.\n"
          "# TYPE heartbeat_last_timestamp_seconds gauge\n"
          "heartbeat_last_timestamp_seconds" +
          labels +
          "} 1770271200.5\n"
          "# HELP heartbeat_iteration_total Iteration counter reported in the process's last "
          "heartbeat.\n"
          "# TYPE heartbeat_iteration_total counter\n"
          "heartbeat_iteration_total" +
          labels +
          "} 7\n"
          "# HELP heartbeat_timeout_seconds Configured heartbeat timeout of the process.\n"
          "# TYPE heartbeat_timeout_seconds gauge\n"
          "heartbeat_timeout_seconds" +
          labels +
          "} 30\n"
          "# HELP heartbeat_pid Process ID reported in the process's last heartbeat.\n"
          "# TYPE heartbeat_pid gauge\n"
          "heartbeat_pid" +
          labels + "} 4242\n");
}

TEST_CASE("a job has its deadline, and its schedule on an info series without static labels") {
  auto result = result_of("backup", HealthState::kHealthy);
  result.process.labels = {{"team", "ops"}};
  result.process.schedule = schedule_of("30 2 * * Mon-Fri", "Europe/Berlin");
  result.deadline_seconds = 1770345000.25;
  auto daemon = result_of("server", HealthState::kHealthy);
  daemon.deadline_seconds = 1770271230.25;

  auto text = render_process_families(report_of({result, daemon}), 1).joined();

  CHECK_THAT(text, Catch::Contains(
                       "# TYPE heartbeat_deadline_timestamp_seconds gauge\n"
                       "heartbeat_deadline_timestamp_seconds{process=\"backup\",team=\"ops\"} "
                       "1770345000.25\n"
                       "heartbeat_deadline_timestamp_seconds{process=\"server\"} 1770271230.25\n"));
  CHECK_THAT(text, Catch::EndsWith("# HELP heartbeat_schedule_info The schedule of a job, as "
                                   "configured, and its time zone; always 1.\n"
                                   "# TYPE heartbeat_schedule_info gauge\n"
                                   "heartbeat_schedule_info{process=\"backup\",schedule=\"30 2 "
                                   "* * Mon-Fri\",timezone=\"Europe/Berlin\"} 1\n"));
  CHECK(text == serializer_text(report_of({result, daemon})));
}

TEST_CASE(
    "every state, a future timestamp, no iteration and an unread file render as "
    "TextSerializer does") {
  auto report = every_case_report();
  auto text = render_process_families(report, 1);
  CHECK(text.joined() == serializer_text(report));
  // The future timestamp has a pid but neither age nor last timestamp.
  CHECK(text.joined().find("heartbeat_pid{process=\"future\"} 4242\n") != std::string::npos);
  CHECK(text.joined().find("heartbeat_age_seconds{process=\"future\"}") == std::string::npos);
  CHECK(text.joined().find("heartbeat_age_seconds{process=\"no-iteration\"} -0.25\n") !=
        std::string::npos);
  CHECK(text.joined().find("heartbeat_iteration_total{process=\"no-iteration\"}") ==
        std::string::npos);
}

TEST_CASE(
    "label values with quotes, backslashes, newlines and non-ASCII render as "
    "TextSerializer does, configured labels in name order after process") {
  auto report = labelled_report();
  auto text = render_process_families(report, 1).joined();
  CHECK(text == serializer_text(report));
  CHECK(text.find(R"(heartbeat_pid{process="say \"hi\" \\ C:\\dir",env="line one\nline two",)"
                  R"(team="payments \"core\""} 4242)") != std::string::npos);
  CHECK(text.find("heartbeat_pid{process=\"größe-😀\",owner=\"zoë\\\\\",tab=\"a\tb\"} 4242") !=
        std::string::npos);
}

TEST_CASE("an empty report renders no text at all, as TextSerializer does") {
  auto text = render_process_families(MonitorReport{}, 4);
  CHECK(text.pieces.empty());
  CHECK(text.size() == 0);
  CHECK(text.joined().empty());
  CHECK(serializer_text(MonitorReport{}).empty());
}

TEST_CASE("families with no series are left out, HELP and TYPE included") {
  auto report = report_of({unread_result("a"), unread_result("b")});
  auto text = render_process_families(report, 1).joined();
  CHECK(text == serializer_text(report));
  for (std::string_view absent : {"heartbeat_age_seconds", "heartbeat_last_timestamp_seconds",
                                  "heartbeat_iteration_total", "heartbeat_pid"}) {
    INFO(absent);
    CHECK(text.find(absent) == std::string::npos);
  }
  CHECK(text.find("# TYPE heartbeat_timeout_seconds gauge\n") != std::string::npos);
}

TEST_CASE(
    "a run's exit code, duration and last success are series only where a heartbeat has "
    "them") {
  auto failed = result_of("backup", HealthState::kErrorStatus);
  failed.heartbeat->exit_code = 3;
  failed.heartbeat->duration = 17250001us;
  failed.heartbeat->last_success = kHeartbeatTime - 24h;
  auto running = result_of("report", HealthState::kHealthy);
  running.heartbeat->last_success = kHeartbeatTime - 1h + 500ms;
  auto report = report_of({failed, running, result_of("daemon", HealthState::kHealthy)});
  const std::string text = render_process_families(report, 1).joined();
  CHECK(text == serializer_text(report));
  CHECK_THAT(text, Catch::Matchers::Contains("# TYPE heartbeat_exit_code gauge\n"
                                             "heartbeat_exit_code{process=\"backup\"} 3\n#"));
  CHECK_THAT(text, Catch::Matchers::Contains(
                       "heartbeat_last_run_duration_seconds{process=\"backup\"} 17.250001\n#"));
  CHECK_THAT(text, Catch::Matchers::Contains(
                       "heartbeat_last_success_timestamp_seconds{process=\"backup\"} 1770184800\n"
                       "heartbeat_last_success_timestamp_seconds{process=\"report\"} "
                       "1770267600.5\n"));
  CHECK(text.find("heartbeat_exit_code{process=\"report\"}") == std::string::npos);
  for (std::string_view family : {"heartbeat_exit_code", "heartbeat_last_run_duration_seconds",
                                  "heartbeat_last_success_timestamp_seconds"}) {
    CHECK(text.find(std::string(family) + "{process=\"daemon\"}") == std::string::npos);
  }
}

TEST_CASE("a big random report renders as TextSerializer does, serially and in parallel",
          "[threads]") {
  auto report = random_report(6000, 20260205);
  const std::string expected = serializer_text(report);
  const auto serial = render_process_families(report, 1);
  CHECK(serial.joined() == expected);
  CHECK(serial.size() == expected.size());
  for (unsigned threads : {2u, 3u, 8u}) {
    INFO("threads " << threads);
    auto parallel = render_process_families(report, threads);
    CHECK(parallel.joined() == expected);
    // Every family (each has series here), each a header piece and one piece per thread.
    CHECK(parallel.pieces.size() == kProcessFamilies.size() * (threads + 1));
  }
}

TEST_CASE("a small report renders on one thread however many are offered") {
  auto report = every_case_report();
  auto text = render_process_families(report, 8);
  CHECK(text.pieces.size() == 12);
  CHECK(text.joined() == serializer_text(report));
}

TEST_CASE(
    "with processes_per_piece each family is cut at the same processes whatever the "
    "thread count") {
  auto report = random_report(1050, 17);
  const std::string expected = serializer_text(report);
  const auto serial = render_process_families(report, 1, 100);
  CHECK(serial.joined() == expected);
  // Every family, each a header piece and ceil(1050 / 100) pieces of series.
  CHECK(serial.pieces.size() == kProcessFamilies.size() * (1 + 11));
  CHECK(serial.pieces[0].rfind("# HELP heartbeat_state ", 0) == 0);
  CHECK(serial.pieces[1].rfind("heartbeat_state{process=\"proc-100000\"", 0) == 0);
  CHECK(serial.pieces[11].rfind("heartbeat_state{process=\"proc-101000", 0) == 0);
  for (unsigned threads : {2u, 3u}) {
    INFO("threads " << threads);
    CHECK(render_process_families(report, threads, 100).pieces == serial.pieces);
  }
  for (const auto& piece : serial.pieces) CHECK_FALSE(piece.empty());
}

TEST_CASE("a state change alters only the heartbeat_state piece of the changed process") {
  auto report = random_report(1000, 19);
  const auto before = render_process_families(report, 2, 100);
  auto& changed = report.results[250];
  changed.state =
      changed.state == HealthState::kHealthy ? HealthState::kTimedOut : HealthState::kHealthy;
  const auto after = render_process_families(report, 2, 100);

  REQUIRE(after.pieces.size() == before.pieces.size());
  std::vector<std::size_t> differing;
  for (std::size_t i = 0; i < after.pieces.size(); ++i) {
    if (after.pieces[i] != before.pieces[i]) differing.push_back(i);
  }
  // Piece 0 is the HELP and TYPE of heartbeat_state; process 250 is in its third piece.
  CHECK(differing == std::vector<std::size_t>{3});
}

}  // namespace
}  // namespace heartbeat_exporter
