// The built heartbeat_exporter binary over real files and real HTTP.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "heartbeat_exporter/timestamp.h"
#include "support/http_client.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

using namespace heartbeat_exporter;
using namespace heartbeat_exporter::testing;
using namespace std::chrono_literals;

namespace {

Timestamp now() {
  return std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
}

std::string heartbeat_json(long pid, Timestamp at, const std::string& status = "running",
                           int iteration = 7) {
  return R"({"process_key": "x", "pid": )" + std::to_string(pid) + R"(, "timestamp": ")" +
         format_timestamp(at) + R"(", "status": ")" + status + R"(", "iteration": )" +
         std::to_string(iteration) + "}";
}

// A pid that certainly belonged to a process that has exited and been reaped.
pid_t dead_pid() {
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  return child;
}

// Returns the value of the one sample whose series text (name and labels) is exactly `series`.
std::optional<std::string> sample(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return line.substr(series.size() + 1);
    }
  }
  return std::nullopt;
}

std::string state_of(const std::string& exposition, const std::string& process) {
  std::string found;
  for (const char* state : {"healthy", "timed_out", "no_heartbeat", "stale_pid", "error_status"}) {
    auto value =
        sample(exposition, "heartbeat_state{process=\"" + process + "\",state=\"" + state + "\"}");
    if (!value) return "series missing for state " + std::string(state);
    if (*value == "1") {
      if (!found.empty()) return "more than one state is 1";
      found = state;
    } else if (*value != "0") {
      return "unexpected value " + *value;
    }
  }
  return found;
}

// A folder with one heartbeat per state, a discovered folder and its config.
struct StateFixture {
  TempDir dir;
  std::filesystem::path config;

  StateFixture() {
    auto fresh = now();
    dir.write("hb/healthy.json", heartbeat_json(getpid(), fresh));
    // This test process started after the stale timestamp, so with the pid check on, the
    // verdict would rightly be STALE_PID (pid reuse); the process is configured without it.
    dir.write("hb/timed_out.json", heartbeat_json(getpid(), fresh - 300s));
    dir.write("hb/stale_pid.json", heartbeat_json(dead_pid(), fresh));
    dir.write("hb/error_status.json", heartbeat_json(getpid(), fresh, "error"));
    dir.write("workers/w1.json", heartbeat_json(getpid(), fresh));
    dir.write("workers/.w2.json.tmp", "partial");
    config = dir.write("config.json", R"({
      "default_timeout_seconds": 60,
      "processes": {
        "healthy": {"heartbeat_path": "hb/healthy.json", "labels": {"team": "payments"}},
        "timed_out": {"heartbeat_path": "hb/timed_out.json", "check_pid": false},
        "no_heartbeat": {"heartbeat_path": "hb/absent.json"},
        "stale_pid": {"heartbeat_path": "hb/stale_pid.json"},
        "error_status": {"heartbeat_path": "hb/error_status.json"}
      },
      "heartbeat_dirs": [{"path": "workers", "timeout_seconds": 30}]
    })");
  }
};

}  // namespace

TEST_CASE("every health state is served on /metrics over HTTP", "[integration]") {
  StateFixture fixture;
  Exporter exporter(fixture.config, fixture.dir.path());
  auto response = http_get(exporter.port(), "/metrics");
  REQUIRE(response.status == 200);
  CHECK(response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8");
  const std::string& body = response.body;

  CHECK(sample(body, R"(heartbeat_state{process="healthy",team="payments",state="healthy"})") ==
        "1");
  CHECK(state_of(body, "timed_out") == "timed_out");
  CHECK(state_of(body, "no_heartbeat") == "no_heartbeat");
  CHECK(state_of(body, "stale_pid") == "stale_pid");
  CHECK(state_of(body, "error_status") == "error_status");
  CHECK(state_of(body, "w1") == "healthy");
  CHECK(body.find("w2") == std::string::npos);

  CHECK(sample(body, R"(heartbeat_iteration_total{process="timed_out"})") == "7");
  CHECK(sample(body, R"(heartbeat_pid{process="timed_out"})") == std::to_string(getpid()));
  CHECK(sample(body, R"(heartbeat_timeout_seconds{process="w1"})") == "30");
  CHECK(sample(body, R"(heartbeat_timeout_seconds{process="no_heartbeat"})") == "60");
  auto age = sample(body, R"(heartbeat_age_seconds{process="timed_out"})");
  REQUIRE(age);
  CHECK(std::stod(*age) >= 300);
  CHECK(std::stod(*age) < 360);
  // A process without a readable heartbeat has no age, pid or iteration series.
  CHECK_FALSE(sample(body, R"(heartbeat_age_seconds{process="no_heartbeat"})"));
  CHECK_FALSE(sample(body, R"(heartbeat_pid{process="no_heartbeat"})"));
  CHECK(sample(body, R"(heartbeat_exporter_read_errors_total{reason="missing"})") == "1");
  CHECK(sample(body, R"(heartbeat_exporter_discovery_errors)") == "0");
  CHECK(std::regex_search(
      body, std::regex(R"(heartbeat_exporter_build_info\{[^}]*version="[0-9.]+"[^}]*\} 1)")));
  CHECK(std::regex_search(
      body, std::regex(R"(\nheartbeat_exporter_scrape_duration_seconds [0-9.e-]+\n)")));

  SECTION("read error counters accumulate across scrapes") {
    auto second = http_get(exporter.port(), "/metrics");
    CHECK(sample(second.body, R"(heartbeat_exporter_read_errors_total{reason="missing"})") == "2");
  }
}

TEST_CASE("the exposition passes promtool check metrics with nothing reported", "[integration]") {
  StateFixture fixture;
  // Keys and label values with quotes, backslashes, newlines' neighbours and non-ASCII text.
  fixture.dir.write("workers/we\"ird\\ké y✓.json", heartbeat_json(getpid(), now()));
  Exporter exporter(fixture.config, fixture.dir.path());
  auto response = http_get(exporter.port(), "/metrics");
  REQUIRE(response.status == 200);
  CHECK(sample(response.body, R"(heartbeat_state{process="we\"ird\\ké y✓",state="healthy"})") ==
        "1");
  auto result = run({"promtool", "check", "metrics"}, response.body);
  INFO(result.out << result.err);
  CHECK(result.exit_code == 0);
  CHECK(result.out.empty());
  CHECK(result.err.empty());
}

TEST_CASE("gzip is served when the scraper asks for it", "[integration]") {
  StateFixture fixture;
  Exporter exporter(fixture.config, fixture.dir.path());
  auto plain = http_get(exporter.port(), "/metrics");
  auto zipped = http_get(exporter.port(), "/metrics", {{"Accept-Encoding", "gzip"}});
  REQUIRE(zipped.status == 200);
  CHECK(zipped.headers["content-encoding"] == "gzip");
  CHECK(zipped.body.size() < plain.body.size());
  std::string text = gunzip(zipped.body);
  CHECK(state_of(text, "stale_pid") == "stale_pid");
  CHECK(plain.headers.count("content-encoding") == 0);
  auto refused = http_get(exporter.port(), "/metrics", {{"Accept-Encoding", "gzip;q=0"}});
  CHECK(refused.headers.count("content-encoding") == 0);
}

TEST_CASE("landing page lists every process with escaped text, other paths answer as expected",
          "[integration]") {
  StateFixture fixture;
  fixture.dir.write("workers/<script>.json",
                    heartbeat_json(getpid(), now(), "<b>bad</b> & 'worse'"));
  Exporter exporter(fixture.config, fixture.dir.path(), {"--web.telemetry-path=/probe"});

  auto landing = http_get(exporter.port(), "/");
  REQUIRE(landing.status == 200);
  CHECK(landing.headers["content-type"] == "text/html; charset=utf-8");
  CHECK(landing.body.find("<a href=\"/probe\">") != std::string::npos);
  CHECK(landing.body.find("<td>stale_pid</td><td class=\"state\">STALE_PID</td>") !=
        std::string::npos);
  CHECK(landing.body.find("&lt;script&gt;") != std::string::npos);
  CHECK(landing.body.find("<script>") == std::string::npos);
  CHECK(landing.body.find("&lt;b&gt;bad&lt;/b&gt; &amp; &#39;worse&#39;") != std::string::npos);

  CHECK(http_get(exporter.port(), "/probe").status == 200);
  CHECK(http_get(exporter.port(), "/metrics").status == 404);
  CHECK(http_get(exporter.port(), "/nope").status == 404);
  auto healthy = http_get(exporter.port(), "/-/healthy");
  CHECK(healthy.status == 200);
  CHECK(http_get(exporter.port(), "/-/ready").status == 200);
  auto post = http_request(exporter.port(), "POST", "/probe");
  CHECK(post.status == 405);
  CHECK(post.headers["allow"] == "GET, HEAD");
  auto head = http_request(exporter.port(), "HEAD", "/probe");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
}

TEST_CASE("hostile heartbeat files cost their process its state, never the scrape",
          "[integration]") {
  TempDir dir;
  REQUIRE(mkfifo((dir / "fifo.json").c_str(), 0644) == 0);
  std::filesystem::create_symlink("/dev/zero", dir / "zero.json");
  std::filesystem::create_directory(dir / "folder.json");
  dir.write("huge.json", std::string(10 * 1024 * 1024, '['));
  dir.write("deep.json", std::string(30000, '[') + std::string(30000, ']'));
  dir.write("types.json", R"({"pid": "12", "timestamp": 5, "status": null})");
  dir.write("binary.json", std::string("\xff\xfe\x00\x01garbage", 11));
  dir.write("good.json", heartbeat_json(getpid(), now()));
  auto config = dir.write("config.json", R"({"heartbeat_dirs": [{"path": "."}]})");
  Exporter exporter(config, dir.path());

  auto started = std::chrono::steady_clock::now();
  auto response = http_get(exporter.port(), "/metrics");
  auto took = std::chrono::steady_clock::now() - started;
  REQUIRE(response.status == 200);
  for (const char* key : {"fifo", "zero", "folder", "huge", "deep", "types", "binary"}) {
    INFO(key);
    CHECK(state_of(response.body, key) == "no_heartbeat");
  }
  CHECK(state_of(response.body, "good") == "healthy");
  CHECK(sample(response.body,
               R"(heartbeat_exporter_read_errors_total{reason="not_regular_file"})") == "2");
  // A heartbeat folder does not follow symlinks: zero.json is never opened.
  CHECK(sample(response.body, R"(heartbeat_exporter_read_errors_total{reason="symlink"})") == "1");
  CHECK(sample(response.body, R"(heartbeat_exporter_read_errors_total{reason="too_large"})") ==
        "1");
  // Not a benchmark: a blocked FIFO open would take until the client's 10 s timeout.
  CHECK(took < 5s);
}

TEST_CASE("heartbeats written by Python's json.dump and isoformat() are healthy", "[integration]") {
  TempDir dir;
  auto script = R"(
import datetime, json, os, sys
folder = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
beats = {
    "iso_utc": now.isoformat(),
    "iso_naive": datetime.datetime.utcnow().isoformat(),
    "str_space": str(now),
    "iso_offset": now.astimezone(datetime.timezone(datetime.timedelta(hours=5, minutes=30))).isoformat(),
    "whole_second": now.replace(microsecond=0).isoformat(),
}
for key, stamp in beats.items():
    tmp = os.path.join(folder, "." + key + ".tmp")
    with open(tmp, "w") as f:
        json.dump({"process_key": key, "pid": os.getppid(), "timestamp": stamp,
                   "status": "running", "iteration": 1}, f)
    os.rename(tmp, os.path.join(folder, key + ".json"))
)";
  std::filesystem::create_directory(dir / "hb");
  auto written = run({"python3", "-c", script, (dir / "hb").string()});
  INFO(written.err);
  REQUIRE(written.exit_code == 0);
  auto config = dir.write("config.json", R"({"heartbeat_dirs": [{"path": "hb"}]})");
  Exporter exporter(config, dir.path());
  auto body = http_get(exporter.port(), "/metrics").body;
  for (const char* key : {"iso_utc", "iso_naive", "str_space", "iso_offset", "whole_second"}) {
    INFO(key);
    CHECK(state_of(body, key) == "healthy");
  }
}

TEST_CASE("a state change is logged once, when it happens", "[integration]") {
  TempDir dir;
  dir.write("hb/p.json", heartbeat_json(getpid(), now()));
  auto config =
      dir.write("config.json", R"({"processes": {"p": {"heartbeat_path": "hb/p.json"}}})");
  Exporter exporter(config, dir.path());
  http_get(exporter.port(), "/metrics");
  http_get(exporter.port(), "/metrics");
  std::filesystem::remove(dir / "hb/p.json");
  http_get(exporter.port(), "/metrics");
  http_get(exporter.port(), "/metrics");
  http_get(exporter.port(), "/metrics");
  auto log = exporter.process().stderr_text();
  std::regex change(
      R"(msg="process state changed" process=p from=healthy to=no_heartbeat reason=missing)");
  auto count =
      std::distance(std::sregex_iterator(log.begin(), log.end(), change), std::sregex_iterator());
  INFO(log);
  CHECK(count == 1);
  CHECK(log.find("msg=\"starting heartbeat_exporter\"") != std::string::npos);
}

TEST_CASE("SIGTERM and SIGINT stop the exporter with exit status 0", "[integration]") {
  StateFixture fixture;
  for (int signal_number : {SIGTERM, SIGINT}) {
    Exporter exporter(fixture.config, fixture.dir.path());
    REQUIRE(http_get(exporter.port(), "/-/healthy").status == 200);
    exporter.process().signal(signal_number);
    CHECK(exporter.process().wait() == 0);
  }
}

TEST_CASE("SIGHUP reloads the config and keeps the old one when the new one is bad",
          "[integration]") {
  TempDir dir;
  dir.write("a.json", heartbeat_json(getpid(), now()));
  dir.write("b.json", heartbeat_json(getpid(), now()));
  auto config = dir.write("config.json", R"({"processes": {"a": {"heartbeat_path": "a.json"}}})");
  Exporter exporter(config, dir.path());
  CHECK(state_of(http_get(exporter.port(), "/metrics").body, "a") == "healthy");

  dir.write("config.json", R"({"processes": {"b": {"heartbeat_path": "b.json"}}})");
  exporter.process().signal(SIGHUP);
  REQUIRE(exporter.process().wait_for_log("configuration reloaded"));
  auto body = http_get(exporter.port(), "/metrics").body;
  CHECK(state_of(body, "b") == "healthy");
  CHECK(body.find("process=\"a\"") == std::string::npos);

  dir.write("config.json", R"({"processes": {"c": {"heartbeat_pth": "c.json"}}})");
  exporter.process().signal(SIGHUP);
  REQUIRE(
      exporter.process().wait_for_log("reloading configuration failed; keeping the previous one"));
  CHECK(state_of(http_get(exporter.port(), "/metrics").body, "b") == "healthy");
  CHECK(exporter.process().stderr_text().find("processes.c.heartbeat_pth: unknown field") !=
        std::string::npos);
}

TEST_CASE("startup errors are one clear line and a non-zero exit", "[integration]") {
  TempDir dir;
  SECTION("a bad config names the file and the field") {
    auto config =
        dir.write("config.json",
                  R"({"processes": {"my_server": {"heartbeat_path": "x", "timeout_secs": 3}}})");
    auto result = run({HEARTBEAT_EXPORTER_BINARY, "--config.file", config.string()});
    CHECK(result.exit_code == 1);
    CHECK(result.err.find(config.string() + ": processes.my_server.timeout_secs: unknown field") !=
          std::string::npos);
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
  }
  SECTION("a missing config file") {
    auto result = run({HEARTBEAT_EXPORTER_BINARY, "--config.file=" + (dir / "nope.json").string()});
    CHECK(result.exit_code == 1);
    CHECK(result.err.find("nope.json") != std::string::npos);
  }
  SECTION("a port that is already taken") {
    auto config = dir.write("config.json", "{}");
    Exporter first(config, dir.path());
    auto result = run({HEARTBEAT_EXPORTER_BINARY, "--config.file=" + config.string(),
                       "--web.listen-address=127.0.0.1:" + std::to_string(first.port())});
    CHECK(result.exit_code == 1);
    CHECK(result.err.find("cannot listen on 127.0.0.1:" + std::to_string(first.port()) +
                          ": Address already in use") != std::string::npos);
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
  }
  SECTION("an unknown flag prints usage and exits 2") {
    auto result = run({HEARTBEAT_EXPORTER_BINARY, "--web.listen-adress=:1"});
    CHECK(result.exit_code == 2);
    CHECK(result.err.find("unknown flag --web.listen-adress") != std::string::npos);
    CHECK(result.err.find("usage: heartbeat_exporter") != std::string::npos);
  }
  SECTION("a bad listen address") {
    auto config = dir.write("config.json", "{}");
    auto result = run({HEARTBEAT_EXPORTER_BINARY, "--config.file", config.string(),
                       "--web.listen-address", "example.com:80"});
    CHECK(result.exit_code == 1);
    CHECK(result.err.find("invalid --web.listen-address example.com:80") != std::string::npos);
  }
}

TEST_CASE("version and help flags answer and exit 0", "[integration]") {
  auto version = run({HEARTBEAT_EXPORTER_BINARY, "--version"});
  CHECK(version.exit_code == 0);
  CHECK(std::regex_search(
      version.out,
      std::regex(R"(^heartbeat_exporter, version [0-9]+\.[0-9]+\.[0-9]+ \(revision: \S+\)\n$)")));
  auto help = run({HEARTBEAT_EXPORTER_BINARY, "--help"});
  CHECK(help.exit_code == 0);
  for (const char* flag : {"--config.file", "--web.listen-address", "--web.telemetry-path",
                           "--log.level", "--log.format", "--version"}) {
    CHECK(help.out.find(flag) != std::string::npos);
  }
  CHECK(help.out.find("(default: :10180)") != std::string::npos);
}

TEST_CASE("log.format json writes one JSON object per line", "[integration]") {
  StateFixture fixture;
  Exporter exporter(fixture.config, fixture.dir.path(), {"--log.format=json"});
  http_get(exporter.port(), "/metrics");
  REQUIRE(exporter.process().wait_for_log("\"msg\":\"process state changed\""));
  std::istringstream lines(exporter.process().stderr_text());
  int count = 0;
  for (std::string line; std::getline(lines, line); ++count) {
    INFO(line);
    CHECK(std::regex_match(
        line, std::regex(R"re(^\{"time":"[^"]+","level":"(info|warn)","msg":.*\}$)re")));
  }
  CHECK(count >= 2);
}

TEST_CASE("POST /-/reload reloads only with --web.enable-lifecycle, and reports the outcome",
          "[integration]") {
  TempDir dir;
  dir.write("a.json", heartbeat_json(getpid(), now()));
  dir.write("b.json", heartbeat_json(getpid(), now()));
  auto config = dir.write("config.json", R"({"processes": {"a": {"heartbeat_path": "a.json"}}})");

  SECTION("without the flag the endpoint is forbidden and nothing is reloaded") {
    Exporter exporter(config, dir.path());
    dir.write("config.json", R"({"processes": {"b": {"heartbeat_path": "b.json"}}})");
    CHECK(http_request(exporter.port(), "POST", "/-/reload").status == 403);
    CHECK(state_of(http_get(exporter.port(), "/metrics").body, "a") == "healthy");
  }
  SECTION("with the flag a good config is taken and a bad one is refused with its error") {
    Exporter exporter(config, dir.path(), {"--web.enable-lifecycle"});
    auto before = http_get(exporter.port(), "/metrics").body;
    CHECK(sample(before, "heartbeat_exporter_config_last_reload_successful") == "1");
    auto first_success =
        sample(before, "heartbeat_exporter_config_last_reload_success_timestamp_seconds");
    REQUIRE(first_success);

    CHECK(http_request(exporter.port(), "GET", "/-/reload").status == 405);
    dir.write("config.json", R"({"processes": {"b": {"heartbeat_path": "b.json"}}})");
    CHECK(http_request(exporter.port(), "POST", "/-/reload").status == 200);
    auto reloaded = http_get(exporter.port(), "/metrics").body;
    CHECK(state_of(reloaded, "b") == "healthy");
    CHECK(reloaded.find("process=\"a\"") == std::string::npos);
    CHECK(std::stod(*sample(reloaded,
                            "heartbeat_exporter_config_last_reload_success_timestamp_seconds")) >=
          std::stod(*first_success));

    dir.write("config.json", R"({"processes": {"c": {"heartbeat_path": 3}}})");
    auto refused = http_request(exporter.port(), "POST", "/-/reload");
    CHECK(refused.status == 500);
    CHECK(refused.body.find("processes.c.heartbeat_path: expected a string, got number") !=
          std::string::npos);
    auto after = http_get(exporter.port(), "/metrics").body;
    CHECK(state_of(after, "b") == "healthy");
    CHECK(sample(after, "heartbeat_exporter_config_last_reload_successful") == "0");
  }
}
