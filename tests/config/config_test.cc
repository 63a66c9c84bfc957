#include "config/config.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "support/temp_dir.h"

namespace heartbeat_exporter {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

const fs::path kFile = "/etc/hb/config.json";

Config config_of(std::string_view json) {
  auto result = parse_config(json, kFile);
  INFO(result.error);
  REQUIRE(result.config.has_value());
  CHECK(result.error.empty());
  return *result.config;
}

std::string error_of(std::string_view json) {
  auto result = parse_config(json, kFile);
  REQUIRE_FALSE(result.config.has_value());
  return result.error;
}

// One process entry with the given extra members, so each test shows only what it varies.
std::string with_process(std::string_view members) {
  return R"({"processes": {"my_server": {"heartbeat_path": "/hb/my_server.json")" +
         std::string(members) + "}}}";
}

TEST_CASE("a full config is loaded with every field") {
  auto config = config_of(R"({
    "default_timeout_seconds": 60,
    "processes": {
      "nightly_backup": { "heartbeat_path": "backup.json", "timeout_seconds": 90000,
                          "check_pid": false, "labels": {"team": "payments", "tier": "1"} },
      "my_server":      { "heartbeat_path": "/var/lib/heartbeats/my_server.json",
                          "timeout_seconds": 30 }
    },
    "heartbeat_dirs": [ { "path": "/var/lib/heartbeats/workers", "timeout_seconds": 45,
                          "check_pid": false, "labels": {"team": "batch"} },
                        { "path": "more" } ]
  })");

  CHECK(config.file == kFile);
  CHECK(config.default_timeout_seconds == 60);
  REQUIRE(config.processes.size() == 2);
  const auto& server = config.processes[0];
  CHECK(server.key == "my_server");
  CHECK(server.heartbeat_path == fs::path("/var/lib/heartbeats/my_server.json"));
  CHECK(server.timeout_seconds == 30);
  CHECK(server.check_pid);
  CHECK(server.labels.empty());
  const auto& backup = config.processes[1];
  CHECK(backup.key == "nightly_backup");
  CHECK(backup.heartbeat_path == fs::path("/etc/hb/backup.json"));
  CHECK(backup.timeout_seconds == 90000);
  CHECK_FALSE(backup.check_pid);
  CHECK(backup.labels == Labels{{"team", "payments"}, {"tier", "1"}});

  REQUIRE(config.heartbeat_dirs.size() == 2);
  CHECK(config.heartbeat_dirs[0].path == fs::path("/var/lib/heartbeats/workers"));
  CHECK(config.heartbeat_dirs[0].timeout_seconds == 45);
  CHECK_FALSE(config.heartbeat_dirs[0].check_pid);
  CHECK(config.heartbeat_dirs[0].labels == Labels{{"team", "batch"}});
  CHECK(config.heartbeat_dirs[1].path == fs::path("/etc/hb/more"));
  CHECK(config.heartbeat_dirs[1].timeout_seconds == 60);
  CHECK(config.heartbeat_dirs[1].check_pid);
  CHECK(config.heartbeat_dirs[1].labels.empty());
}

TEST_CASE("a heartbeat folder refuses symlinks and reads 100,000 files unless it says otherwise") {
  auto config = config_of(R"({"heartbeat_dirs": [
    {"path": "/a"}, {"path": "/b", "follow_symlinks": true, "max_files": 5},
    {"path": "/c", "follow_symlinks": false, "max_files": 18446744073709551615}]})");
  REQUIRE(config.heartbeat_dirs.size() == 3);
  CHECK_FALSE(config.heartbeat_dirs[0].follow_symlinks);
  CHECK(config.heartbeat_dirs[0].max_files == 100000);
  CHECK(config.heartbeat_dirs[1].follow_symlinks);
  CHECK(config.heartbeat_dirs[1].max_files == 5);
  CHECK_FALSE(config.heartbeat_dirs[2].follow_symlinks);
  CHECK(config.heartbeat_dirs[2].max_files == 18446744073709551615U);
}

TEST_CASE(
    "follow_symlinks and max_files belong to folders only and take a boolean and an "
    "integer >= 1") {
  CHECK(error_of(with_process(R"(, "follow_symlinks": true)")) ==
        "/etc/hb/config.json: processes.my_server.follow_symlinks: unknown field");
  CHECK(error_of(with_process(R"(, "max_files": 10)")) ==
        "/etc/hb/config.json: processes.my_server.max_files: unknown field");
  CHECK(error_of(R"({"heartbeat_dirs": [{"path": "/d", "follow_symlinks": 1}]})") ==
        "/etc/hb/config.json: heartbeat_dirs[0].follow_symlinks: expected a boolean, got number");
  for (std::string_view bad : {"0", "-1", "1.5", "1e3", "\"10\"", "18446744073709551616"}) {
    INFO(bad);
    CHECK(error_of(R"({"heartbeat_dirs": [{"path": "/d", "max_files": )" + std::string(bad) +
                   "}]}") ==
          "/etc/hb/config.json: heartbeat_dirs[0].max_files: must be an "
          "integer >= 1");
  }
}

TEST_CASE("an empty config is valid and monitors nothing") {
  auto config = config_of("{}");
  CHECK(config.default_timeout_seconds == 60);
  CHECK(config.processes.empty());
  CHECK(config.heartbeat_dirs.empty());
}

TEST_CASE("default_timeout_seconds is 60 when absent, for processes and folders") {
  auto config = config_of(R"({"processes": {"a": {"heartbeat_path": "/a.json"}},
                              "heartbeat_dirs": [{"path": "/d"}]})");
  CHECK(config.default_timeout_seconds == 60);
  CHECK(config.processes.at(0).timeout_seconds == 60);
  CHECK(config.heartbeat_dirs.at(0).timeout_seconds == 60);
}

TEST_CASE("timeout_seconds falls back to default_timeout_seconds") {
  auto config = config_of(R"({"default_timeout_seconds": 120,
                              "processes": {"a": {"heartbeat_path": "/a.json"},
                                            "b": {"heartbeat_path": "/b.json", "timeout_seconds": 5}},
                              "heartbeat_dirs": [{"path": "/d"}]})");
  CHECK(config.processes.at(0).timeout_seconds == 120);
  CHECK(config.processes.at(1).timeout_seconds == 5);
  CHECK(config.heartbeat_dirs.at(0).timeout_seconds == 120);
}

TEST_CASE("default_timeout_seconds declared after processes still applies to them") {
  auto config = config_of(R"({"processes": {"a": {"heartbeat_path": "/a.json"}},
                              "heartbeat_dirs": [{"path": "/d"}],
                              "default_timeout_seconds": 7})");
  CHECK(config.default_timeout_seconds == 7);
  CHECK(config.processes.at(0).timeout_seconds == 7);
  CHECK(config.heartbeat_dirs.at(0).timeout_seconds == 7);
}

TEST_CASE("integer, integral float and fractional timeouts are all accepted") {
  CHECK(config_of(with_process(R"(, "timeout_seconds": 60)")).processes.at(0).timeout_seconds ==
        60);
  CHECK(config_of(with_process(R"(, "timeout_seconds": 60.0)")).processes.at(0).timeout_seconds ==
        60);
  CHECK(config_of(with_process(R"(, "timeout_seconds": 0.5)")).processes.at(0).timeout_seconds ==
        0.5);
  CHECK(config_of(R"({"default_timeout_seconds": 1e3})").default_timeout_seconds == 1000);
}

TEST_CASE("processes are stored sorted by key") {
  auto config = config_of(R"({"processes": {"b": {"heartbeat_path": "/b.json"},
                                            "a": {"heartbeat_path": "/a.json"},
                                            "C": {"heartbeat_path": "/c.json"}}})");
  std::vector<std::string> keys;
  for (const auto& process : config.processes) keys.push_back(process.key);
  CHECK(keys == std::vector<std::string>{"C", "a", "b"});
}

TEST_CASE("a process key may be any non-empty string because it is only a label value") {
  auto config = config_of(R"({"processes": {"my server/ä \"x\"": {"heartbeat_path": "/a.json"}}})");
  CHECK(config.processes.at(0).key == "my server/ä \"x\"");
}

TEST_CASE("relative heartbeat paths resolve against the config file's folder, normalised") {
  auto config = config_of(R"({"processes": {
      "a": {"heartbeat_path": "hb/a.json"},
      "b": {"heartbeat_path": "../b.json"},
      "c": {"heartbeat_path": "./x/../c.json"},
      "d": {"heartbeat_path": "/var//lib/./hb/../d.json"}},
    "heartbeat_dirs": [{"path": "workers"}, {"path": "../shared/./w"}]})");
  CHECK(config.processes.at(0).heartbeat_path == fs::path("/etc/hb/hb/a.json"));
  CHECK(config.processes.at(1).heartbeat_path == fs::path("/etc/b.json"));
  CHECK(config.processes.at(2).heartbeat_path == fs::path("/etc/hb/c.json"));
  CHECK(config.processes.at(3).heartbeat_path == fs::path("/var/lib/d.json"));
  CHECK(config.heartbeat_dirs.at(0).path == fs::path("/etc/hb/workers"));
  CHECK(config.heartbeat_dirs.at(1).path == fs::path("/etc/shared/w"));
}

TEST_CASE("a relative config file path is made absolute before resolving heartbeat paths") {
  auto result = parse_config(R"({"processes": {"a": {"heartbeat_path": "a.json"}},
                                 "heartbeat_dirs": [{"path": "w"}]})",
                             "conf/config.json");
  REQUIRE(result.config.has_value());
  CHECK(result.config->processes.at(0).heartbeat_path == fs::current_path() / "conf/a.json");
  CHECK(result.config->heartbeat_dirs.at(0).path == fs::current_path() / "conf/w");
  CHECK(result.config->file == fs::path("conf/config.json"));
}

TEST_CASE("unknown fields are rejected at every level with their field path") {
  CHECK(error_of(R"({"default_timeout": 60})") ==
        "/etc/hb/config.json: default_timeout: unknown field");
  CHECK(error_of(with_process(R"(, "timeout_secs": 30)")) ==
        "/etc/hb/config.json: processes.my_server.timeout_secs: unknown field");
  CHECK(error_of(R"({"heartbeat_dirs": [{"path": "/d"}, {"path": "/e", "glob": "*"}]})") ==
        "/etc/hb/config.json: heartbeat_dirs[1].glob: unknown field");
}

TEST_CASE("a value of the wrong type names the expected and the actual type") {
  CHECK(error_of(R"({"default_timeout_seconds": "60"})") ==
        "/etc/hb/config.json: default_timeout_seconds: expected a number, got string");
  CHECK(error_of(R"({"processes": []})") ==
        "/etc/hb/config.json: processes: expected an object, got array");
  CHECK(error_of(R"({"processes": {"a": "/a.json"}})") ==
        "/etc/hb/config.json: processes.a: expected an object, got string");
  CHECK(error_of(R"({"processes": {"a": {"heartbeat_path": 5}}})") ==
        "/etc/hb/config.json: processes.a.heartbeat_path: expected a string, got number");
  CHECK(error_of(with_process(R"(, "timeout_seconds": null)")) ==
        "/etc/hb/config.json: processes.my_server.timeout_seconds: expected a number, got null");
  CHECK(error_of(with_process(R"(, "check_pid": "no")")) ==
        "/etc/hb/config.json: processes.my_server.check_pid: expected a boolean, got string");
  CHECK(error_of(with_process(R"(, "labels": ["team"])")) ==
        "/etc/hb/config.json: processes.my_server.labels: expected an object, got array");
  CHECK(error_of(with_process(R"(, "labels": {"team": 1})")) ==
        "/etc/hb/config.json: processes.my_server.labels.team: expected a string, got number");
  CHECK(error_of(R"({"heartbeat_dirs": {"path": "/d"}})") ==
        "/etc/hb/config.json: heartbeat_dirs: expected an array, got object");
  CHECK(error_of(R"({"heartbeat_dirs": [true]})") ==
        "/etc/hb/config.json: heartbeat_dirs[0]: expected an object, got boolean");
  CHECK(error_of(R"({"heartbeat_dirs": [{"path": "/d", "check_pid": 1}]})") ==
        "/etc/hb/config.json: heartbeat_dirs[0].check_pid: expected a boolean, got number");
}

TEST_CASE("timeouts must be greater than zero") {
  CHECK(error_of(R"({"default_timeout_seconds": 0})") ==
        "/etc/hb/config.json: default_timeout_seconds: must be > 0, got 0");
  CHECK(error_of(with_process(R"(, "timeout_seconds": -1.5)")) ==
        "/etc/hb/config.json: processes.my_server.timeout_seconds: must be > 0, got -1.5");
  CHECK(error_of(R"({"heartbeat_dirs": [{"path": "/d", "timeout_seconds": -0.0}]})") ==
        "/etc/hb/config.json: heartbeat_dirs[0].timeout_seconds: must be > 0, got -0");
}

TEST_CASE(
    "a process or folder with a schedule gets its time zone, UTC and 300 s of grace by default") {
  auto config = config_of(R"({
    "processes": {
      "backup":  { "heartbeat_path": "/hb/backup.json", "schedule": "30 2 * * *",
                   "timezone": "Europe/Berlin", "grace_seconds": 600 },
      "report":  { "heartbeat_path": "/hb/report.json", "schedule": "@daily" },
      "server":  { "heartbeat_path": "/hb/server.json" }
    },
    "heartbeat_dirs": [ { "path": "/hb/jobs", "schedule": "*/5 * * * *", "grace_seconds": 0 } ]
  })");
  REQUIRE(config.processes.size() == 3);
  const auto& backup = config.processes[0];
  REQUIRE(backup.schedule != nullptr);
  CHECK(backup.schedule->expression() == "30 2 * * *");
  CHECK(backup.schedule->time_zone_name() == "Europe/Berlin");
  CHECK(backup.grace_seconds == 600);
  const auto& report = config.processes[1];
  REQUIRE(report.schedule != nullptr);
  CHECK(report.schedule->expression() == "@daily");
  CHECK(report.schedule->time_zone_name() == "UTC");
  CHECK(report.grace_seconds == kDefaultGraceSeconds);
  CHECK(kDefaultGraceSeconds == 300);
  CHECK(config.processes[2].schedule == nullptr);
  REQUIRE(config.heartbeat_dirs.size() == 1);
  REQUIRE(config.heartbeat_dirs[0].schedule != nullptr);
  CHECK(config.heartbeat_dirs[0].schedule->expression() == "*/5 * * * *");
  CHECK(config.heartbeat_dirs[0].grace_seconds == 0);
}

TEST_CASE("a bad schedule, time zone or grace refuses the config naming the field") {
  const auto [members, message] = GENERATE(table<const char*, const char*>({
      {R"(, "schedule": "61 * * * *")",
       "processes.my_server.schedule: minute field \"61\": 61 is not in 0-59"},
      {R"(, "schedule": "30 2 31 2 *")",
       "processes.my_server.schedule: is never due: none of its months has any of its days of "
       "the month"},
      {R"(, "schedule": 5)", "processes.my_server.schedule: expected a string, got number"},
      {R"(, "schedule": "@daily", "timezone": "Europe/Atlantis")",
       "processes.my_server.timezone: unknown time zone \"Europe/Atlantis\" (not in the tz "
       "database, /usr/share/zoneinfo)"},
      {R"(, "schedule": "@daily", "timezone": "")",
       "processes.my_server.timezone: must not be empty"},
      {R"(, "schedule": "@daily", "grace_seconds": -1)",
       "processes.my_server.grace_seconds: must be >= 0, got -1"},
      {R"(, "schedule": "@daily", "grace_seconds": "5m")",
       "processes.my_server.grace_seconds: expected a number, got string"},
      {R"(, "timezone": "UTC")",
       "processes.my_server.timezone: applies only to a process with a \"schedule\""},
      {R"(, "grace_seconds": 60)",
       "processes.my_server.grace_seconds: applies only to a process with a \"schedule\""},
  }));
  INFO(members);
  CHECK(error_of(with_process(members)) == "/etc/hb/config.json: " + std::string(message));
  CHECK(error_of(R"({"heartbeat_dirs": [{"path": "/d", "schedule": "* * * 0 *"}]})") ==
        "/etc/hb/config.json: heartbeat_dirs[0].schedule: month field \"0\": 0 is not in 1-12");
}

TEST_CASE("a number too large for a double is invalid JSON, so timeouts are always finite") {
  CHECK(error_of(R"({"default_timeout_seconds": 1e999})") ==
        "/etc/hb/config.json: invalid JSON at offset 28: Number too big to be stored in double.");
  CHECK(error_of(R"({"default_timeout_seconds": NaN})") ==
        "/etc/hb/config.json: invalid JSON at offset 28: Invalid value.");
}

TEST_CASE("heartbeat_path and path are required") {
  CHECK(error_of(R"({"processes": {"a": {"timeout_seconds": 5}}})") ==
        "/etc/hb/config.json: processes.a.heartbeat_path: required field is missing");
  CHECK(error_of(R"({"heartbeat_dirs": [{"labels": {"team": "x"}}]})") ==
        "/etc/hb/config.json: heartbeat_dirs[0].path: required field is missing");
}

TEST_CASE("an empty path or one containing NUL is rejected") {
  CHECK(error_of(R"({"processes": {"a": {"heartbeat_path": ""}}})") ==
        "/etc/hb/config.json: processes.a.heartbeat_path: must not be empty");
  CHECK(error_of(R"({"processes": {"a": {"heartbeat_path": "/a\u0000.json"}}})") ==
        "/etc/hb/config.json: processes.a.heartbeat_path: must not contain a NUL character");
  CHECK(error_of(R"({"heartbeat_dirs": [{"path": ""}]})") ==
        "/etc/hb/config.json: heartbeat_dirs[0].path: must not be empty");
}

TEST_CASE("an empty process key is rejected") {
  CHECK(error_of(R"({"processes": {"": {"heartbeat_path": "/a.json"}}})") ==
        "/etc/hb/config.json: processes: a process key must not be empty");
}

TEST_CASE("a process key given twice is a duplicate field") {
  CHECK(error_of(R"({"processes": {"a": {"heartbeat_path": "/a.json"},
                                   "a": {"heartbeat_path": "/b.json"}}})") ==
        "/etc/hb/config.json: processes.a: duplicate field");
}

TEST_CASE("a field given twice is a duplicate field at every level") {
  CHECK(error_of(R"({"default_timeout_seconds": 5, "default_timeout_seconds": 6})") ==
        "/etc/hb/config.json: default_timeout_seconds: duplicate field");
  CHECK(error_of(R"({"processes": {}, "processes": {}})") ==
        "/etc/hb/config.json: processes: duplicate field");
  CHECK(error_of(with_process(R"(, "heartbeat_path": "/other.json")")) ==
        "/etc/hb/config.json: processes.my_server.heartbeat_path: duplicate field");
  CHECK(error_of(with_process(R"(, "labels": {"team": "a", "team": "b"})")) ==
        "/etc/hb/config.json: processes.my_server.labels.team: duplicate field");
  CHECK(error_of(R"({"heartbeat_dirs": [{"path": "/d", "check_pid": true, "check_pid": true}]})") ==
        "/etc/hb/config.json: heartbeat_dirs[0].check_pid: duplicate field");
}

TEST_CASE("static label names follow Prometheus rules minus the reserved names") {
  for (std::string_view name : {"team", "_x", "a1", "A_b_9", "_", "processes", "states", "x__"}) {
    INFO(name);
    CHECK(is_valid_static_label_name(name));
  }
  for (std::string_view name :
       {"", "process", "state", "__x", "__", "1abc", "a-b", "a b", "é", "a.b", "Process "}) {
    INFO(name);
    CHECK_FALSE(is_valid_static_label_name(name));
  }
}

TEST_CASE("an invalid label name in the config names the label in the error") {
  for (std::string_view name : {"process", "state", "__x", "1abc", "a-b"}) {
    INFO(name);
    CHECK(error_of(with_process(R"(, "labels": {")" + std::string(name) + R"(": "v"})")) ==
          "/etc/hb/config.json: processes.my_server.labels." + std::string(name) +
              ": invalid label name (must match [a-zA-Z_][a-zA-Z0-9_]* and not be process, state "
              "or start with __)");
  }
  CHECK(error_of(R"({"heartbeat_dirs": [{"path": "/d", "labels": {"state": "x"}}]})") ==
        "/etc/hb/config.json: heartbeat_dirs[0].labels.state: invalid label name (must match "
        "[a-zA-Z_][a-zA-Z0-9_]* and not be process, state or start with __)");
}

TEST_CASE(
    "le, quantile, job, instance and exported_* are refused in one line that suggests "
    "another name") {
  const auto [name, message] = GENERATE(table<const char*, const char*>({
      {"le", R"("le" is the bucket label of histograms (promtool check metrics refuses it here); )"
             R"(use another name, such as "limit")"},
      {"quantile", R"("quantile" is the label of summary quantiles (promtool check metrics )"
                   R"(refuses it here); use another name, such as "percentile")"},
      {"job", R"("job" is set by Prometheus on every target (with honor_labels this one would )"
              R"(replace it); use another name, such as "service")"},
      {"instance", R"("instance" is set by Prometheus on every target (with honor_labels this )"
                   R"(one would replace it); use another name, such as "host")"},
      {"exported_team", R"("exported_team" is how Prometheus renames a label that clashes with a )"
                        R"(target label; use another name, such as "team")"},
      {"exported_exported_job", R"("exported_exported_job" is how Prometheus renames a label )"
                                R"(that clashes with a target label; use another name, such as )"
                                R"("service")"},
      {"exported_", R"("exported_" is how Prometheus renames a label that clashes with a target )"
                    R"(label; use another name, such as "origin")"},
  }));
  INFO(name);
  CHECK_FALSE(is_valid_static_label_name(name));
  CHECK(static_label_name_problem(name) == std::optional<std::string>(message));
  CHECK(error_of(with_process(R"(, "labels": {")" + std::string(name) + R"(": "v"})")) ==
        "/etc/hb/config.json: processes.my_server.labels." + std::string(name) + ": " + message);
  CHECK(error_of(R"({"heartbeat_dirs": [{"path": "/d", "labels": {")" + std::string(name) +
                 R"(": "v"}}]})") ==
        "/etc/hb/config.json: heartbeat_dirs[0].labels." + std::string(name) + ": " + message);
}

TEST_CASE("names that only resemble the refused ones are fine") {
  for (std::string_view name : {"lee", "Le", "LE", "le_", "jobs", "job_name", "instances",
                                "quantiles", "exported", "exportedjob", "team_exported_"}) {
    INFO(name);
    CHECK(is_valid_static_label_name(name));
    CHECK_FALSE(static_label_name_problem(name).has_value());
  }
}

TEST_CASE("an empty label value is rejected because Prometheus would drop the label") {
  CHECK(error_of(with_process(R"(, "labels": {"team": ""})")) ==
        "/etc/hb/config.json: processes.my_server.labels.team: must not be empty (Prometheus "
        "treats an empty label value as no label)");
}

TEST_CASE("label values may be any non-empty string") {
  auto config = config_of(with_process(R"(, "labels": {"team": "pay ments \"x\"\n", "a": "é"})"));
  CHECK(config.processes.at(0).labels == Labels{{"a", "é"}, {"team", "pay ments \"x\"\n"}});
}

TEST_CASE("invalid JSON reports the offset and RapidJSON's message") {
  CHECK(error_of(R"({"processes": })") ==
        "/etc/hb/config.json: invalid JSON at offset 14: Invalid value.");
  CHECK(error_of("") == "/etc/hb/config.json: invalid JSON at offset 0: The document is empty.");
  CHECK(error_of("{} {}") ==
        "/etc/hb/config.json: invalid JSON at offset 3: The document root must not be followed by "
        "other values.");
}

TEST_CASE("a NUL byte anywhere is invalid JSON, not the end of input") {
  CHECK(error_of(std::string_view("{}\0{\"x\": 1}", 11)) ==
        "/etc/hb/config.json: invalid JSON at offset 2: NUL byte");
  CHECK(error_of(std::string_view("{\"a\0\": 1}", 9)) ==
        "/etc/hb/config.json: invalid JSON at offset 3: NUL byte");
}

TEST_CASE("invalid UTF-8 is invalid JSON, so label values are always valid UTF-8") {
  auto json = with_process(", \"labels\": {\"team\": \"\xff\"}");
  auto offset = json.find('\xff');
  CHECK(offset == 89);
  CHECK(error_of(json) == "/etc/hb/config.json: invalid JSON at offset " + std::to_string(offset) +
                              ": Invalid encoding in string.");
}

TEST_CASE("a top level that is not an object is rejected") {
  for (std::string_view json : {"[]", "42", "\"config\"", "null"}) {
    INFO(json);
    CHECK(error_of(json) == "/etc/hb/config.json: the top level must be an object");
  }
}

TEST_CASE("100,000 nested brackets give an error, not a stack overflow") {
  const std::size_t depth = 100000;
  CHECK(error_of(std::string(depth, '[')) ==
        "/etc/hb/config.json: invalid JSON at offset 100000: Invalid value.");
  CHECK(error_of(std::string(depth, '[') + std::string(depth, ']')) ==
        "/etc/hb/config.json: the top level must be an object");
  CHECK(error_of(with_process(R"(, "labels": {"team": )" + std::string(depth, '[') +
                              std::string(depth, ']') + "}")) ==
        "/etc/hb/config.json: processes.my_server.labels.team: expected a string, got array");
}

TEST_CASE("control characters in field names are escaped so the error stays on one line") {
  CHECK(error_of(R"({"a\nb\u007f": 1})") == "/etc/hb/config.json: a\\x0ab\\x7f: unknown field");
}

TEST_CASE("load_config reads the file and resolves relative paths against its folder") {
  TempDir dir;
  auto file = dir.write("etc/config.json", R"({"processes": {"a": {"heartbeat_path": "a.json"}}})");
  auto result = load_config(file);
  INFO(result.error);
  REQUIRE(result.config.has_value());
  CHECK(result.error.empty());
  CHECK(result.config->file == file);
  CHECK(result.config->processes.at(0).heartbeat_path == dir.path() / "etc/a.json");
}

TEST_CASE("load_config puts the file name in validation errors") {
  TempDir dir;
  auto file = dir.write("config.json", R"({"processes": 1})");
  auto result = load_config(file);
  CHECK_FALSE(result.config.has_value());
  CHECK(result.error == file.string() + ": processes: expected an object, got number");
}

TEST_CASE("a missing config file is a read error with the system's reason") {
  TempDir dir;
  auto result = load_config(dir / "missing.json");
  CHECK_FALSE(result.config.has_value());
  CHECK(result.error ==
        (dir / "missing.json").string() + ": cannot read config file: No such file or directory");
}

TEST_CASE("a FIFO as config file is not a regular file and does not block") {
  TempDir dir;
  auto fifo = dir / "config.json";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto result = load_config(fifo);
  CHECK_FALSE(result.config.has_value());
  CHECK(result.error == fifo.string() + ": not a regular file");
}

TEST_CASE("a folder as config file is not a regular file") {
  TempDir dir;
  auto result = load_config(dir.path());
  CHECK_FALSE(result.config.has_value());
  CHECK(result.error == dir.path().string() + ": not a regular file");
}

TEST_CASE("a config file of 16 MiB is read and one byte more is rejected") {
  TempDir dir;
  const std::size_t limit = 16 * 1024 * 1024;
  auto at_limit = dir.write("at_limit.json", "{}" + std::string(limit - 2, ' '));
  auto result = load_config(at_limit);
  INFO(result.error);
  CHECK(result.config.has_value());

  auto over_limit = dir.write("over_limit.json", "{}" + std::string(limit - 1, ' '));
  result = load_config(over_limit);
  CHECK_FALSE(result.config.has_value());
  CHECK(result.error == over_limit.string() + ": file is larger than 16 MiB");
}

// Found by fuzz_config: RapidJSON 1.1.0 turns a lone surrogate escape into bytes that are not
// UTF-8, and such a key or label value would make Prometheus reject the whole scrape.
TEST_CASE("a process key or label value that decodes to invalid UTF-8 is refused") {
  CHECK(error_of(R"({"processes": {"k\udc00": {"heartbeat_path": "/x"}}})") ==
        kFile.string() + ": processes: a process key must be valid UTF-8");
  CHECK(
      error_of(R"({"processes": {"k": {"heartbeat_path": "/x", "labels": {"team": "\udc00"}}}})") ==
      kFile.string() + ": processes.k.labels.team: must be valid UTF-8");
}

}  // namespace
}  // namespace heartbeat_exporter
