// The built heartbeatctl binary: what shell scripts and cron jobs run.
#include <rapidjson/document.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>

#include "heartbeat_exporter/reader.h"
#include "heartbeat_exporter/timestamp.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

using namespace heartbeat_exporter;
using namespace heartbeat_exporter::testing;

namespace {

RunResult ctl(std::vector<std::string> args) {
  args.insert(args.begin(), HEARTBEATCTL_BINARY);
  return run(args);
}

}  // namespace

TEST_CASE("heartbeatctl beat writes a heartbeat for the calling process, counting iterations",
          "[integration]") {
  TempDir dir;
  auto folder = (dir / "new/folder").string();
  auto before = std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
  for (std::uint64_t expected = 1; expected <= 3; ++expected) {
    auto result = ctl({"beat", "--dir", folder, "--key", "nightly"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    auto read = read_heartbeat(dir / "new/folder/nightly.json");
    REQUIRE(read.ok());
    CHECK(read.heartbeat->iteration == expected);
    // heartbeatctl's parent is the process that ran it: here, this test.
    CHECK(read.heartbeat->pid == getpid());
    CHECK(read.heartbeat->status == "running");
    CHECK(read.heartbeat->process_key == "nightly");
    CHECK(read.heartbeat->timestamp >= before);
  }
  CHECK(std::distance(std::filesystem::directory_iterator(dir / "new/folder"),
                      std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("heartbeatctl beat takes --status, --iteration and --pid", "[integration]") {
  TempDir dir;
  auto result = ctl({"beat", "--dir=" + dir.path().string(), "--key=job", "--status=error",
                     "--iteration=41", "--pid=1"});
  REQUIRE(result.exit_code == 0);
  auto read = read_heartbeat(dir / "job.json");
  REQUIRE(read.ok());
  CHECK(read.heartbeat->status == "error");
  CHECK(read.heartbeat->iteration == 41u);
  CHECK(read.heartbeat->pid == 1);
  REQUIRE(ctl({"beat", "--dir", dir.path().string(), "--key", "job"}).exit_code == 0);
  CHECK(read_heartbeat(dir / "job.json").heartbeat->iteration == 42u);
}

TEST_CASE("heartbeatctl refuses bad input with exit status 2", "[integration]") {
  TempDir dir;
  auto folder = dir.path().string();
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"beat", "--dir", folder, "--key", "../escape"},
           {"beat", "--dir", folder, "--key", "a/b"},
           {"beat", "--dir", folder},
           {"beat", "--key", "k"},
           {"beat", "--dir", folder, "--key", "k", "--pid", "0"},
           {"beat", "--dir", folder, "--key", "k", "--pid", "abc"},
           {"beat", "--dir", folder, "--key", "k", "--iteration", "-1"},
           {"beat", "--dir", folder, "--key", "k", "--bogus"},
           {"stop", "--dir", folder, "--key", ".."},
           {"frobnicate"},
       }) {
    auto result = ctl(args);
    INFO(args[0] << " " << (args.size() > 1 ? args.back() : ""));
    CHECK(result.exit_code == 2);
    CHECK(result.err.find("heartbeatctl: error:") != std::string::npos);
  }
  CHECK_FALSE(std::filesystem::exists(dir.path().parent_path() / "escape.json"));
  CHECK(std::filesystem::is_empty(dir.path()));
}

TEST_CASE("heartbeatctl beat reports a write failure with the path and exit status 1",
          "[integration]") {
  TempDir dir;
  dir.write("not_a_folder", "x");
  auto result = ctl({"beat", "--dir", (dir / "not_a_folder").string(), "--key", "k"});
  CHECK(result.exit_code == 1);
  CHECK(result.err.find((dir / "not_a_folder").string()) != std::string::npos);
}

TEST_CASE("heartbeatctl stop removes the heartbeat and tolerates a missing one", "[integration]") {
  TempDir dir;
  REQUIRE(ctl({"beat", "--dir", dir.path().string(), "--key", "k"}).exit_code == 0);
  REQUIRE(std::filesystem::exists(dir / "k.json"));
  CHECK(ctl({"stop", "--dir", dir.path().string(), "--key", "k"}).exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(dir / "k.json"));
  CHECK(ctl({"stop", "--dir", dir.path().string(), "--key", "k"}).exit_code == 0);
}

TEST_CASE("heartbeatctl check exits 0 when all are healthy, 1 when any is not, 2 on a bad config",
          "[integration]") {
  TempDir dir;
  auto config = dir.write("config.json", R"({"heartbeat_dirs": [{"path": "hb"}]})");
  REQUIRE(ctl({"beat", "--dir", (dir / "hb").string(), "--key", "one"}).exit_code == 0);
  REQUIRE(ctl({"beat", "--dir", (dir / "hb").string(), "--key", "two"}).exit_code == 0);

  auto healthy = ctl({"check", "--config.file", config.string()});
  INFO(healthy.out << healthy.err);
  CHECK(healthy.exit_code == 0);
  CHECK(healthy.out.find("PROCESS") == 0);
  CHECK(healthy.out.find("one") != std::string::npos);

  REQUIRE(ctl({"beat", "--dir", (dir / "hb").string(), "--key", "two", "--status", "error"})
              .exit_code == 0);
  auto failing = ctl({"check", "--config.file", config.string(), "--json"});
  CHECK(failing.exit_code == 1);
  rapidjson::Document json;
  json.Parse(failing.out.c_str());
  REQUIRE_FALSE(json.HasParseError());
  CHECK_FALSE(json["all_healthy"].GetBool());
  REQUIRE(json["processes"].Size() == 2);
  CHECK(std::string(json["processes"][0]["process"].GetString()) == "one");
  CHECK(std::string(json["processes"][0]["state"].GetString()) == "HEALTHY");
  CHECK(std::string(json["processes"][1]["state"].GetString()) == "ERROR_STATUS");
  CHECK(std::string(json["processes"][1]["status"].GetString()) == "error");
  CHECK(json["processes"][1]["pid"].GetInt64() == getpid());

  auto bad = dir.write("bad.json", R"({"processes": []})");
  auto error = ctl({"check", "--config.file", bad.string()});
  CHECK(error.exit_code == 2);
  CHECK(error.err.find(bad.string() + ": processes:") != std::string::npos);
}

TEST_CASE(
    "heartbeatctl check prints control characters from files and file names escaped, in "
    "the table and in JSON",
    "[integration]") {
  TempDir dir;
  auto config = dir.write("config.json", R"({"heartbeat_dirs": [{"path": "hb"}]})");
  // Clears the screen, sets the window title, paints a fake all-clear; and a C1 CSI.
  const std::string hostile =
      "\x1b[2J\x1b]0;owned\x07\x1b[32mALL HEALTHY\r\n\xc2\x9b"
      "1m";
  REQUIRE(ctl({"beat", "--dir", (dir / "hb").string(), "--key", "job", "--status", hostile})
              .exit_code == 0);
  dir.write("hb/evil\x1b[1mname.json", "{");
  // Not UTF-8 at all: a file name may be any bytes.
  dir.write("hb/latin\xe9.json", "{");

  auto table = ctl({"check", "--config.file", config.string()});
  CHECK(table.exit_code == 1);
  for (char c : table.out) {
    const auto byte = static_cast<unsigned char>(c);
    CHECK((byte >= 0x20 || byte == '\n'));
    CHECK(byte != 0x7f);
  }
  CHECK(table.out.find("\xc2\x9b") == std::string::npos);
  CHECK(table.out.find("\\x1b[2J\\x1b]0;owned\\x07\\x1b[32mALL HEALTHY\\x0d\\x0a\\u009b1m") !=
        std::string::npos);
  CHECK(table.out.find("evil\\x1b[1mname") != std::string::npos);

  auto json = ctl({"check", "--config.file", config.string(), "--json"});
  CHECK(json.out.find('\x1b') == std::string::npos);
  CHECK(json.out.find("\xc2\x9b") == std::string::npos);
  CHECK(json.out.find("\\u009B1m") != std::string::npos);
  rapidjson::Document document;
  document.Parse(json.out.c_str());
  REQUIRE_FALSE(document.HasParseError());
  CHECK(std::string(document["processes"][1]["status"].GetString()) == hostile);
  CHECK(json.out.find("latin\\\\xe9") != std::string::npos);
}

TEST_CASE(
    "heartbeatctl beat does not read the previous iteration through a symlinked heartbeat, "
    "and replaces the link, not its target",
    "[integration]") {
  TempDir dir;
  REQUIRE(ctl({"beat", "--dir", (dir / "elsewhere").string(), "--key", "job", "--iteration", "41"})
              .exit_code == 0);
  std::filesystem::create_directory(dir / "hb");
  std::filesystem::create_symlink(dir / "elsewhere/job.json", dir / "hb/job.json");
  REQUIRE(ctl({"beat", "--dir", (dir / "hb").string(), "--key", "job"}).exit_code == 0);
  CHECK(read_heartbeat(dir / "hb/job.json").heartbeat->iteration == 1u);
  CHECK(std::filesystem::is_regular_file(std::filesystem::symlink_status(dir / "hb/job.json")));
  CHECK(read_heartbeat(dir / "elsewhere/job.json").heartbeat->iteration == 41u);
}
