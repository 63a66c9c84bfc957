#include "metrics/collector.h"

// Shows optional values in failure messages instead of "{?}".
#define CATCH_CONFIG_ENABLE_OPTIONAL_STRINGMAKER

#include <fcntl.h>
#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "heartbeat_exporter/writer.h"
#include "support/exposition_parser.h"
#include "support/fakes.h"
#include "support/temp_dir.h"
#include "util/log.h"
#include "version.h"

namespace heartbeat_exporter {
namespace {

using namespace std::chrono_literals;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using std::chrono::sys_days;
using std::chrono::year;
using testing::TempDir;
using Strings = std::vector<std::string>;

// 1770271200 seconds since the epoch.
const Timestamp kHeartbeatTime{sys_days{year{2026} / 2 / 5} + 6h};
constexpr std::int64_t kPid = 4242;

using testing::FakeClock;
using testing::FakeProcessTable;

std::string format_value(double value) {
  char buffer[64];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  REQUIRE(error == std::errc());
  return std::string(buffer, end);
}

// `{name="value",...}` in the metric's own label order; the test values need no escaping.
std::string label_text(const ClientMetric& metric) {
  std::string out = "{";
  for (const auto& label : metric.label) {
    if (out.size() > 1) out += ",";
    out += label.name + "=\"" + label.value + "\"";
  }
  return out + "}";
}

// One `{labels} value` line per series, in the family's order.
Strings samples(const MetricFamily& family) {
  Strings out;
  for (const auto& metric : family.metric) {
    double value = family.type == MetricType::Counter ? metric.counter.value : metric.gauge.value;
    out.push_back(label_text(metric) + " " + format_value(value));
  }
  return out;
}

Strings names(const std::vector<MetricFamily>& families) {
  Strings out;
  for (const auto& family : families) out.push_back(family.name);
  return out;
}

const MetricFamily* find_family(const std::vector<MetricFamily>& families, std::string_view name) {
  for (const auto& family : families) {
    if (family.name == name) return &family;
  }
  return nullptr;
}

// The value of the series `name{labels}`, e.g. value(f, "heartbeat_pid", R"({process="a"})").
std::optional<double> value(const std::vector<MetricFamily>& families, std::string_view name,
                            std::string_view labels) {
  const MetricFamily* family = find_family(families, name);
  if (family == nullptr) return std::nullopt;
  for (const auto& metric : family->metric) {
    if (label_text(metric) != labels) continue;
    return family->type == MetricType::Counter ? metric.counter.value : metric.gauge.value;
  }
  return std::nullopt;
}

ProcessConfig process_config(std::string key, double timeout_seconds = 60) {
  ProcessConfig process;
  process.key = std::move(key);
  process.heartbeat_path = "/var/lib/heartbeats/" + process.key + ".json";
  process.timeout_seconds = timeout_seconds;
  return process;
}

HeartbeatData heartbeat_data(Timestamp at) {
  HeartbeatData data;
  data.process_key = "x";
  data.pid = kPid;
  data.timestamp = at;
  data.status = "running";
  data.iteration = 7;
  return data;
}

CheckResult healthy_result(std::string key) {
  CheckResult result;
  result.process = process_config(std::move(key), 30);
  result.state = HealthState::kHealthy;
  result.heartbeat = heartbeat_data(kHeartbeatTime + 250ms);
  result.age_seconds = 1.5;
  return result;
}

CheckResult missing_result(std::string key) {
  CheckResult result;
  result.process = process_config(std::move(key), 30);
  result.state = HealthState::kNoHeartbeat;
  result.reason = "missing";
  result.read_error = ReadError::kMissing;
  return result;
}

MonitorReport report_of(std::vector<CheckResult> results) {
  MonitorReport report;
  report.results = std::move(results);
  report.checked_at = kHeartbeatTime;
  return report;
}

// The per-process families as the renderer writes them, parsed back.
std::vector<MetricFamily> rendered(const MonitorReport& report) {
  return testing::parse_exposition(render_process_families(report, 1).joined());
}

// One scrape as the web server would serve it, parsed back.
std::vector<MetricFamily> scrape(HeartbeatCollector& collector) {
  return testing::parse_exposition(collector.expose()->text().joined());
}

Strings state_samples(std::string_view process, std::string_view state_that_is_1) {
  Strings out;
  for (const char* state : {"healthy", "timed_out", "no_heartbeat", "stale_pid", "error_status"}) {
    out.push_back("{process=\"" + std::string(process) + "\",state=\"" + state + "\"} " +
                  (state == state_that_is_1 ? "1" : "0"));
  }
  return out;
}

TEST_CASE("an empty report yields no families at all") { CHECK(rendered(MonitorReport{}).empty()); }

TEST_CASE("per-process families come in a fixed order, with fixed types, help and values") {
  auto families = rendered(report_of({healthy_result("a")}));

  CHECK(names(families) == Strings{"heartbeat_state", "heartbeat_age_seconds",
                                   "heartbeat_last_timestamp_seconds", "heartbeat_iteration_total",
                                   "heartbeat_timeout_seconds", "heartbeat_pid"});
  std::vector<MetricType> types;
  for (const auto& family : families) types.push_back(family.type);
  CHECK(types == std::vector<MetricType>{MetricType::Gauge, MetricType::Gauge, MetricType::Gauge,
                                         MetricType::Counter, MetricType::Gauge,
                                         MetricType::Gauge});
  for (const auto& family : families) {
    INFO(family.name);
    CHECK_FALSE(family.help.empty());
  }
  CHECK(samples(families[0]) == state_samples("a", "healthy"));
  CHECK(samples(families[1]) == Strings{R"({process="a"} 1.5)"});
  CHECK(samples(families[2]) == Strings{R"({process="a"} 1770271200.25)"});
  CHECK(samples(families[3]) == Strings{R"({process="a"} 7)"});
  CHECK(samples(families[4]) == Strings{R"({process="a"} 30)"});
  CHECK(samples(families[5]) == Strings{R"({process="a"} 4242)"});
}

TEST_CASE("every process has all five state series and exactly the current one is 1") {
  auto timed_out = healthy_result("t");
  timed_out.state = HealthState::kTimedOut;
  auto stale = healthy_result("s");
  stale.state = HealthState::kStalePid;
  auto error_status = healthy_result("e");
  error_status.state = HealthState::kErrorStatus;
  auto families = rendered(
      report_of({error_status, healthy_result("h"), missing_result("n"), stale, timed_out}));

  REQUIRE(names(families).front() == "heartbeat_state");
  Strings expected;
  for (auto [process, state] :
       {std::pair{"e", "error_status"}, std::pair{"h", "healthy"}, std::pair{"n", "no_heartbeat"},
        std::pair{"s", "stale_pid"}, std::pair{"t", "timed_out"}}) {
    for (auto& line : state_samples(process, state)) expected.push_back(line);
  }
  CHECK(samples(families.front()) == expected);
}

TEST_CASE("labels are process, then the static labels sorted by name, then state") {
  auto result = healthy_result("a");
  result.process.labels = {{"zone", "eu"}, {"app", "pay"}, {"team", "core"}};
  auto families = rendered(report_of({result}));

  REQUIRE(families.size() == 6);
  CHECK(label_text(families[0].metric[0]) ==
        R"({process="a",app="pay",team="core",zone="eu",state="healthy"})");
  for (std::size_t i = 1; i < families.size(); ++i) {
    INFO(families[i].name);
    REQUIRE(families[i].metric.size() == 1);
    CHECK(label_text(families[i].metric[0]) == R"({process="a",app="pay",team="core",zone="eu"})");
  }
}

TEST_CASE("a process with no heartbeat has only its state and timeout series") {
  auto families = rendered(report_of({missing_result("gone")}));

  CHECK(names(families) == Strings{"heartbeat_state", "heartbeat_timeout_seconds"});
  CHECK(samples(families[0]) == state_samples("gone", "no_heartbeat"));
  CHECK(samples(families[1]) == Strings{R"({process="gone"} 30)"});
}

TEST_CASE("a timestamp in the future drops age and last timestamp but keeps pid and iteration") {
  auto result = healthy_result("future");
  result.state = HealthState::kNoHeartbeat;
  result.reason = "timestamp_in_future";
  result.age_seconds.reset();
  auto families = rendered(report_of({result}));

  CHECK(names(families) == Strings{"heartbeat_state", "heartbeat_iteration_total",
                                   "heartbeat_timeout_seconds", "heartbeat_pid"});
  CHECK(samples(families[0]) == state_samples("future", "no_heartbeat"));
  CHECK(samples(families[3]) == Strings{R"({process="future"} 4242)"});
}

TEST_CASE("a heartbeat without an iteration has no iteration series") {
  auto result = healthy_result("a");
  result.heartbeat->iteration.reset();
  auto families = rendered(report_of({result}));

  CHECK(names(families) == Strings{"heartbeat_state", "heartbeat_age_seconds",
                                   "heartbeat_last_timestamp_seconds", "heartbeat_timeout_seconds",
                                   "heartbeat_pid"});
}

TEST_CASE("each family holds the series of exactly the processes it applies to, in report order") {
  auto no_iteration = healthy_result("c");
  no_iteration.heartbeat->iteration.reset();
  auto families = rendered(report_of({healthy_result("a"), missing_result("b"), no_iteration}));

  REQUIRE(names(families).size() == 6);
  CHECK(samples(*find_family(families, "heartbeat_age_seconds")) ==
        Strings{R"({process="a"} 1.5)", R"({process="c"} 1.5)"});
  CHECK(samples(*find_family(families, "heartbeat_iteration_total")) ==
        Strings{R"({process="a"} 7)"});
  CHECK(samples(*find_family(families, "heartbeat_timeout_seconds")) ==
        Strings{R"({process="a"} 30)", R"({process="b"} 30)", R"({process="c"} 30)"});
  CHECK(samples(*find_family(families, "heartbeat_pid")) ==
        Strings{R"({process="a"} 4242)", R"({process="c"} 4242)"});
}

TEST_CASE("the text exposition escapes quote, backslash and newline in label values") {
  auto result = healthy_result("a\"b\\c\nd");
  result.process.labels = {{"team", "pay\"ments"}};
  result.process.timeout_seconds = 2.5;
  std::string text = render_process_families(report_of({result}), 1).joined();

  // Label values escape ", \ and newline; HELP text needs no escaping here.
  const std::string expected =
      R"text(# HELP heartbeat_state Health state of a monitored process: 1 for its current state, 0 for the others.
# TYPE heartbeat_state gauge
heartbeat_state{process="a\"b\\c\nd",team="pay\"ments",state="healthy"} 1
heartbeat_state{process="a\"b\\c\nd",team="pay\"ments",state="timed_out"} 0
heartbeat_state{process="a\"b\\c\nd",team="pay\"ments",state="no_heartbeat"} 0
heartbeat_state{process="a\"b\\c\nd",team="pay\"ments",state="stale_pid"} 0
heartbeat_state{process="a\"b\\c\nd",team="pay\"ments",state="error_status"} 0
# HELP heartbeat_age_seconds Seconds since the process's last heartbeat (now minus its timestamp).
# TYPE heartbeat_age_seconds gauge
heartbeat_age_seconds{process="a\"b\\c\nd",team="pay\"ments"} 1.5
# HELP heartbeat_last_timestamp_seconds Unix time of the process's last heartbeat.
# TYPE heartbeat_last_timestamp_seconds gauge
heartbeat_last_timestamp_seconds{process="a\"b\\c\nd",team="pay\"ments"} 1770271200.25
# HELP heartbeat_iteration_total Iteration counter reported in the process's last heartbeat.
# TYPE heartbeat_iteration_total counter
heartbeat_iteration_total{process="a\"b\\c\nd",team="pay\"ments"} 7
# HELP heartbeat_timeout_seconds Configured heartbeat timeout of the process.
# TYPE heartbeat_timeout_seconds gauge
heartbeat_timeout_seconds{process="a\"b\\c\nd",team="pay\"ments"} 2.5
# HELP heartbeat_pid Process ID reported in the process's last heartbeat.
# TYPE heartbeat_pid gauge
heartbeat_pid{process="a\"b\\c\nd",team="pay\"ments"} 4242
)text";
  CHECK(text == expected);
}

// Points fd 2 at a file while alive, so that the logger's lines can be asserted; the logger
// writes straight to stderr and has no other seam.
class StderrCapture {
 public:
  explicit StderrCapture(std::filesystem::path file) : file_(std::move(file)) {
    std::fflush(stderr);
    saved_ = ::dup(STDERR_FILENO);
    int fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(saved_ >= 0);
    REQUIRE(fd >= 0);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
  }
  ~StderrCapture() {
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  // Every line written so far, without its leading time= field, which comes from the real clock.
  Strings lines() const {
    std::fflush(stderr);
    std::ifstream in(file_);
    Strings out;
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("time=", 0) == 0) line.erase(0, line.find(' ') + 1);
      out.push_back(line);
    }
    return out;
  }

 private:
  std::filesystem::path file_;
  int saved_ = -1;
};

// Real heartbeat files in a temp folder, read by a collector with a fake clock and process table.
struct CollectorFixture {
  TempDir dir;
  TempDir log_dir;
  FakeClock clock{kHeartbeatTime};
  // Every pid is alive and started long before any heartbeat, unless a test says otherwise.
  FakeProcessTable processes{ProcessInfo{Liveness::kAlive, kHeartbeatTime - 24h}};
  StderrCapture log{log_dir / "stderr.log"};

  CollectorFixture() { log::configure(log::Level::kInfo, log::Format::kLogfmt); }

  ProcessConfig process(std::string key, double timeout_seconds = 60) const {
    ProcessConfig config;
    config.key = key;
    config.heartbeat_path = heartbeat_file_path(dir.path(), key);
    config.timeout_seconds = timeout_seconds;
    return config;
  }
  void beat(std::string_view key, Timestamp at) const {
    write_heartbeat_file(dir.path(), key, heartbeat_data(at));
  }
  std::string path_of(std::string_view key) const {
    return heartbeat_file_path(dir.path(), key).string();
  }
};

HeartbeatDirConfig dir_config(std::filesystem::path path) {
  HeartbeatDirConfig dir;
  dir.path = std::move(path);
  return dir;
}

std::shared_ptr<const Config> config_of(std::vector<ProcessConfig> processes,
                                        std::vector<HeartbeatDirConfig> dirs = {}) {
  auto config = std::make_shared<Config>();
  config->processes = std::move(processes);
  config->heartbeat_dirs = std::move(dirs);
  return config;
}

std::optional<double> state_value(const std::vector<MetricFamily>& families,
                                  std::string_view process, std::string_view state) {
  return value(families, "heartbeat_state",
               "{process=\"" + std::string(process) + "\",state=\"" + std::string(state) + "\"}");
}

std::optional<double> read_errors(const std::vector<MetricFamily>& families,
                                  std::string_view reason) {
  return value(families, "heartbeat_exporter_read_errors_total",
               "{reason=\"" + std::string(reason) + "\"}");
}

TEST_CASE("a scrape has the per-process families first, then the exporter's own") {
  CollectorFixture fixture;
  fixture.beat("a", kHeartbeatTime);
  HeartbeatCollector collector(config_of({fixture.process("a")}), fixture.clock, fixture.processes);

  auto all = names(scrape(collector));
  REQUIRE(all.size() == 19);
  CHECK(Strings(all.begin(), all.begin() + 7) ==
        Strings{"heartbeat_state", "heartbeat_age_seconds", "heartbeat_last_timestamp_seconds",
                "heartbeat_iteration_total", "heartbeat_timeout_seconds", "heartbeat_pid",
                "heartbeat_deadline_timestamp_seconds"});
  Strings own(all.begin() + 7, all.end());
  std::sort(own.begin(), own.end());
  CHECK(own == Strings{"heartbeat_exporter_build_info", "heartbeat_exporter_discovery_errors",
                       "heartbeat_exporter_discovery_truncated",
                       "heartbeat_exporter_pid_checks_skipped_total",
                       "heartbeat_exporter_read_errors_total",
                       "heartbeat_exporter_scrape_duration_seconds", "process_cpu_seconds_total",
                       "process_max_fds", "process_open_fds", "process_resident_memory_bytes",
                       "process_start_time_seconds", "process_virtual_memory_bytes"});
}

TEST_CASE("all ten read error reasons are exported at 0 before any error") {
  CollectorFixture fixture;
  HeartbeatCollector collector(config_of({}), fixture.clock, fixture.processes);

  auto families = scrape(collector);
  const MetricFamily* errors = find_family(families, "heartbeat_exporter_read_errors_total");
  REQUIRE(errors != nullptr);
  CHECK(errors->type == MetricType::Counter);
  Strings lines = samples(*errors);
  std::sort(lines.begin(), lines.end());
  CHECK(lines == Strings{R"({reason="invalid_field"} 0)", R"({reason="invalid_json"} 0)",
                         R"({reason="invalid_timestamp"} 0)", R"({reason="missing"} 0)",
                         R"({reason="missing_field"} 0)", R"({reason="not_object"} 0)",
                         R"({reason="not_regular_file"} 0)", R"({reason="symlink"} 0)",
                         R"({reason="too_large"} 0)", R"({reason="unreadable"} 0)"});
}

TEST_CASE("read errors are counted once per scrape per failing process, by reason") {
  CollectorFixture fixture;
  fixture.dir.write("bad_json.json", "{");
  fixture.dir.write("array.json", "[]");
  fixture.dir.write("empty_object.json", "{}");
  fixture.beat("ok", kHeartbeatTime);
  HeartbeatCollector collector(config_of({fixture.process("array"), fixture.process("bad_json"),
                                          fixture.process("empty_object"), fixture.process("gone1"),
                                          fixture.process("gone2"), fixture.process("ok")}),
                               fixture.clock, fixture.processes);

  scrape(collector);
  auto families = scrape(collector);
  CHECK(read_errors(families, "missing") == 4);
  CHECK(read_errors(families, "invalid_json") == 2);
  CHECK(read_errors(families, "not_object") == 2);
  CHECK(read_errors(families, "missing_field") == 2);
  for (const char* reason :
       {"unreadable", "not_regular_file", "too_large", "invalid_field", "invalid_timestamp"}) {
    INFO(reason);
    CHECK(read_errors(families, reason) == 0);
  }

  fixture.beat("bad_json", kHeartbeatTime);
  families = scrape(collector);
  CHECK(read_errors(families, "invalid_json") == 2);
  CHECK(read_errors(families, "missing") == 6);
  CHECK(state_value(families, "bad_json", "healthy") == 1);
}

TEST_CASE("build_info is 1 and labeled with the version, revision, compiler and build type") {
  CollectorFixture fixture;
  HeartbeatCollector collector(config_of({}), fixture.clock, fixture.processes);

  auto families = scrape(collector);
  const MetricFamily* info = find_family(families, "heartbeat_exporter_build_info");
  REQUIRE(info != nullptr);
  CHECK(info->type == MetricType::Gauge);
  REQUIRE(info->metric.size() == 1);
  std::map<std::string, std::string> labels;
  for (const auto& label : info->metric[0].label) labels[label.name] = label.value;
  CHECK(labels == std::map<std::string, std::string>{{"build_type", kBuildType},
                                                     {"compiler", kCompiler},
                                                     {"revision", kRevision},
                                                     {"version", kVersion}});
  // "gcc 12.2.0" or "clang 14.0.6": the compiler's name, a space, its version.
  CHECK((labels["compiler"].starts_with("gcc ") || labels["compiler"].starts_with("clang ")));
  CHECK(std::string(kVersion) == "0.1.0");
  CHECK_FALSE(std::string(kRevision).empty());
  CHECK(info->metric[0].gauge.value == 1);
}

TEST_CASE("the discovery errors gauge counts the folders that could not be listed this scrape") {
  CollectorFixture fixture;
  auto first = fixture.dir / "first";
  auto second = fixture.dir / "second";
  HeartbeatCollector collector(config_of({}, {dir_config(first), dir_config(second)}),
                               fixture.clock, fixture.processes);

  CHECK(value(scrape(collector), "heartbeat_exporter_discovery_errors", "{}") == 2);
  std::filesystem::create_directory(first);
  CHECK(value(scrape(collector), "heartbeat_exporter_discovery_errors", "{}") == 1);
  std::filesystem::create_directory(second);
  CHECK(value(scrape(collector), "heartbeat_exporter_discovery_errors", "{}") == 0);
}

TEST_CASE(
    "discovery_truncated is 1 for each folder over its max_files, 0 for the others, and the "
    "change is logged once each way") {
  CollectorFixture fixture;
  const auto big = fixture.dir / "big";
  const auto small = fixture.dir / "small";
  for (int i = 0; i < 3; ++i)
    write_heartbeat_file(big, "p" + std::to_string(i), heartbeat_data(kHeartbeatTime));
  write_heartbeat_file(small, "q", heartbeat_data(kHeartbeatTime));
  auto capped = dir_config(big);
  capped.max_files = 2;
  // Listed twice, it is still one series.
  HeartbeatCollector collector(config_of({}, {capped, dir_config(small), capped}), fixture.clock,
                               fixture.processes);

  for (int i = 0; i < 2; ++i) {
    const auto families = scrape(collector);
    const MetricFamily* truncated = find_family(families, "heartbeat_exporter_discovery_truncated");
    REQUIRE(truncated != nullptr);
    CHECK(truncated->type == MetricType::Gauge);
    CHECK(truncated->metric.size() == 2);
    CHECK(value(families, "heartbeat_exporter_discovery_truncated",
                R"({dir=")" + big.string() + R"("})") == 1);
    CHECK(value(families, "heartbeat_exporter_discovery_truncated",
                R"({dir=")" + small.string() + R"("})") == 0);
    const MetricFamily* states = find_family(families, "heartbeat_state");
    REQUIRE(states != nullptr);
    CHECK(states->metric.size() == 3 * kAllHealthStates.size());  // two of big's three, and q
  }
  std::filesystem::remove(big / "p0.json");
  CHECK(value(scrape(collector), "heartbeat_exporter_discovery_truncated",
              R"({dir=")" + big.string() + R"("})") == 0);
  Strings folder_lines;
  for (const auto& line : fixture.log.lines()) {
    if (line.find("max_files") != std::string::npos) folder_lines.push_back(line);
  }
  CHECK(folder_lines ==
        Strings{R"(level=warn msg="heartbeat folder holds more files than max_files; the rest are )"
                R"(not read" dir=)" +
                    big.string() + " max_files=2",
                R"(level=info msg="heartbeat folder back within max_files" dir=)" + big.string()});
}

TEST_CASE("scrape_duration_seconds is a gauge that is never negative") {
  CollectorFixture fixture;
  fixture.beat("a", kHeartbeatTime);
  HeartbeatCollector collector(config_of({fixture.process("a")}), fixture.clock, fixture.processes);

  auto families = scrape(collector);
  const MetricFamily* duration =
      find_family(families, "heartbeat_exporter_scrape_duration_seconds");
  REQUIRE(duration != nullptr);
  CHECK(duration->type == MetricType::Gauge);
  REQUIRE(duration->metric.size() == 1);
  CHECK(duration->metric[0].label.empty());
  CHECK(duration->metric[0].gauge.value >= 0);
}

TEST_CASE("every scrape decides afresh: moving the clock past the timeout makes it timed_out") {
  CollectorFixture fixture;
  fixture.beat("a", kHeartbeatTime);
  HeartbeatCollector collector(config_of({fixture.process("a", 60)}), fixture.clock,
                               fixture.processes);

  fixture.clock.time = kHeartbeatTime + 10s;
  auto families = scrape(collector);
  CHECK(state_value(families, "a", "healthy") == 1);
  CHECK(value(families, "heartbeat_age_seconds", R"({process="a"})") == 10);

  fixture.clock.time = kHeartbeatTime + 61s;
  families = scrape(collector);
  CHECK(state_value(families, "a", "healthy") == 0);
  CHECK(state_value(families, "a", "timed_out") == 1);
  CHECK(value(families, "heartbeat_age_seconds", R"({process="a"})") == 61);

  fixture.beat("a", kHeartbeatTime + 61s);
  CHECK(state_value(scrape(collector), "a", "healthy") == 1);
}

TEST_CASE("liveness comes from the injected process table, not from /proc") {
  CollectorFixture fixture;
  fixture.beat("a", kHeartbeatTime);
  fixture.processes.by_pid[kPid] = ProcessInfo{Liveness::kGone, std::nullopt};
  HeartbeatCollector collector(config_of({fixture.process("a")}), fixture.clock, fixture.processes);

  auto families = scrape(collector);
  CHECK(state_value(families, "a", "stale_pid") == 1);
  CHECK(value(families, "heartbeat_pid", R"({process="a"})") == 4242);
}

TEST_CASE("set_config changes the processes seen on the next scrape") {
  CollectorFixture fixture;
  fixture.beat("a", kHeartbeatTime);
  fixture.beat("b", kHeartbeatTime);
  HeartbeatCollector collector(config_of({fixture.process("a")}), fixture.clock, fixture.processes);
  CHECK(state_value(scrape(collector), "a", "healthy") == 1);

  auto next = config_of({fixture.process("b")});
  collector.set_config(next);
  CHECK(collector.config() == next);
  auto families = scrape(collector);
  CHECK(state_value(families, "b", "healthy") == 1);
  CHECK_FALSE(state_value(families, "a", "healthy").has_value());
  CHECK(samples(*find_family(families, "heartbeat_timeout_seconds")) ==
        Strings{R"({process="b"} 60)"});
}

TEST_CASE("check() returns a fresh report and records nothing: no counter, no log, no state") {
  CollectorFixture fixture;
  fixture.beat("a", kHeartbeatTime);
  HeartbeatCollector collector(config_of({fixture.process("a", 60), fixture.process("gone")}),
                               fixture.clock, fixture.processes);

  auto report = collector.check();
  REQUIRE(report.results.size() == 2);
  CHECK(report.results[0].state == HealthState::kHealthy);
  CHECK(report.results[1].state == HealthState::kNoHeartbeat);
  fixture.clock.time = kHeartbeatTime + 61s;
  CHECK(collector.check().results[0].state == HealthState::kTimedOut);
  CHECK(collector.check().checked_at == kHeartbeatTime + 61s);
  CHECK(fixture.log.lines().empty());

  auto families = scrape(collector);
  CHECK(read_errors(families, "missing") == 1);
  // Had check() remembered the states, the scrape would see no change and log nothing.
  CHECK(fixture.log.lines().size() == 2);
}

TEST_CASE("a state change is logged once, at warn when it goes bad and at info when it recovers") {
  CollectorFixture fixture;
  fixture.beat("a", kHeartbeatTime);
  HeartbeatCollector collector(config_of({fixture.process("a", 60)}), fixture.clock,
                               fixture.processes);

  scrape(collector);
  CHECK(fixture.log.lines().empty());

  fixture.clock.time = kHeartbeatTime + 61s;
  scrape(collector);
  scrape(collector);
  const std::string went_bad =
      R"(level=warn msg="process state changed" process=a from=healthy to=timed_out )"
      R"(reason=timed_out detail="last heartbeat 61.0 s ago, timeout 60 s")";
  CHECK(fixture.log.lines() == Strings{went_bad});

  fixture.beat("a", kHeartbeatTime + 61s);
  scrape(collector);
  scrape(collector);
  CHECK(fixture.log.lines() ==
        Strings{went_bad, R"(level=info msg="process state changed" process=a from=timed_out )"
                          R"(to=healthy reason="" detail="")"});
}

TEST_CASE("a process first seen unhealthy is logged from unknown, a healthy one not at all") {
  CollectorFixture fixture;
  fixture.beat("a", kHeartbeatTime);
  HeartbeatCollector collector(config_of({fixture.process("a"), fixture.process("gone")}),
                               fixture.clock, fixture.processes);

  scrape(collector);
  CHECK(fixture.log.lines() ==
        Strings{R"(level=warn msg="process state changed" process=gone from=unknown )"
                R"(to=no_heartbeat reason=missing detail="opening heartbeat file \")" +
                fixture.path_of("gone") + R"(\": No such file or directory")"});
}

TEST_CASE("a process that leaves the config is logged once as no longer monitored") {
  CollectorFixture fixture;
  fixture.beat("a", kHeartbeatTime);
  fixture.beat("b", kHeartbeatTime);
  HeartbeatCollector collector(config_of({fixture.process("a"), fixture.process("b")}),
                               fixture.clock, fixture.processes);
  scrape(collector);

  collector.set_config(config_of({fixture.process("b")}));
  scrape(collector);
  scrape(collector);
  CHECK(fixture.log.lines() ==
        Strings{R"(level=info msg="process no longer monitored" process=a)"});
}

TEST_CASE("a discovery failure is logged once when it starts and once when it ends") {
  CollectorFixture fixture;
  auto folder = fixture.dir / "workers";
  HeartbeatCollector collector(config_of({}, {dir_config(folder)}), fixture.clock,
                               fixture.processes);

  scrape(collector);
  scrape(collector);
  const std::string error =
      R"(cannot list heartbeat folder \")" + folder.string() + R"(\": No such file or directory)";
  CHECK(fixture.log.lines() ==
        Strings{R"(level=warn msg="discovery failed" err=")" + error + "\""});

  std::filesystem::create_directory(folder);
  scrape(collector);
  scrape(collector);
  CHECK(fixture.log.lines() ==
        Strings{R"(level=warn msg="discovery failed" err=")" + error + "\"",
                R"(level=info msg="discovery recovered" was=")" + error + "\""});
}

}  // namespace
}  // namespace heartbeat_exporter
