#include "heartbeat_exporter/writer.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "support/run_in_child.h"
#include "support/temp_dir.h"

namespace heartbeat_exporter {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using testing::run_in_child;
using testing::TempDir;

Timestamp now_micros() {
  return std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

std::vector<std::string> file_names(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

HeartbeatData sample_heartbeat() {
  HeartbeatData data;
  data.process_key = "my_server";
  data.pid = 12345;
  data.timestamp = Timestamp(std::chrono::microseconds(1770272249601049));
  data.status = "running";
  data.iteration = 42;
  return data;
}

TEST_CASE("valid process keys are accepted") {
  CHECK(is_valid_process_key("my_server"));
  CHECK(is_valid_process_key("a.b-c_D9"));
  CHECK(is_valid_process_key("x"));
  CHECK(is_valid_process_key("a.."));
  CHECK(is_valid_process_key(std::string(128, 'k')));
}

TEST_CASE("process keys that are not safe file names are refused") {
  const std::string key =
      GENERATE(std::string("../x"), std::string("a/b"), std::string(""), std::string(".hidden"),
               std::string("."), std::string(".."), std::string(129, 'k'), std::string("a b"),
               std::string("caf\xc3\xa9"), std::string("a\0b", 3), std::string("a\\b"),
               std::string("a:b"), std::string("key\n"));
  INFO('"' << key << '"');
  CHECK_FALSE(is_valid_process_key(key));
  TempDir dir;
  CHECK_THROWS_AS(write_heartbeat_file(dir.path(), key, sample_heartbeat()), std::invalid_argument);
  CHECK_THROWS_AS(HeartbeatWriter(dir.path(), key), std::invalid_argument);
  CHECK(file_names(dir.path()).empty());
}

TEST_CASE("the invalid_argument for a bad key names the key") {
  TempDir dir;
  CHECK_THROWS_WITH(HeartbeatWriter(dir.path(), "../x"), Contains("\"../x\""));
  CHECK_THROWS_WITH(remove_heartbeat_file(dir.path(), "a/b"), Contains("\"a/b\""));
}

TEST_CASE("heartbeat_file_path is <dir>/<key>.json") {
  CHECK(heartbeat_file_path("/var/lib/heartbeats", "my_server") ==
        std::filesystem::path("/var/lib/heartbeats/my_server.json"));
}

TEST_CASE("serialize_heartbeat writes the documented compact format") {
  CHECK(serialize_heartbeat(sample_heartbeat()) ==
        R"({"process_key":"my_server","pid":12345,"timestamp":"2026-02-05T06:17:29.601049+00:00",)"
        R"("status":"running","iteration":42})");
}

TEST_CASE("serialize_heartbeat omits process_key and iteration when absent") {
  HeartbeatData data = sample_heartbeat();
  data.process_key.reset();
  data.iteration.reset();
  CHECK(serialize_heartbeat(data) ==
        R"({"pid":12345,"timestamp":"2026-02-05T06:17:29.601049+00:00","status":"running"})");
  const auto parsed = parse_heartbeat(serialize_heartbeat(data));
  REQUIRE(parsed.ok());
  CHECK(parsed.heartbeat->process_key == std::nullopt);
  CHECK(parsed.heartbeat->iteration == std::nullopt);
}

TEST_CASE("serialize_heartbeat escapes quotes, backslashes and control characters") {
  HeartbeatData data = sample_heartbeat();
  using namespace std::string_literals;
  data.status = "say \"hi\" \\ tab\t nl\n nul\0 bell\x07 end"s;
  const std::string json = serialize_heartbeat(data);
  CHECK_THAT(json, Contains(R"("status":"say \"hi\" \\ tab\t nl\n nul\u0000 bell\u0007 end")"));
  const auto parsed = parse_heartbeat(json);
  REQUIRE(parsed.ok());
  CHECK(parsed.heartbeat->status == data.status);
}

TEST_CASE("serialize_heartbeat keeps non-ASCII status text as UTF-8 that round-trips") {
  HeartbeatData data = sample_heartbeat();
  data.status = "d\xc3\xa9grad\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x92\x93";  // "dégradé ✓ 💓"
  const std::string json = serialize_heartbeat(data);
  CHECK_THAT(json, Contains("\"status\":\"" + data.status + "\""));
  const auto parsed = parse_heartbeat(json);
  REQUIRE(parsed.ok());
  CHECK(parsed.heartbeat->status == data.status);
}

TEST_CASE("serialize_heartbeat refuses a status that is not valid UTF-8") {
  HeartbeatData data = sample_heartbeat();
  data.status = "bad \xff byte";
  CHECK_THROWS_AS(serialize_heartbeat(data), std::invalid_argument);
  CHECK_THROWS_WITH(serialize_heartbeat(data), Contains("field \"status\" is not valid UTF-8"));
}

TEST_CASE("write_heartbeat_file writes <dir>/<key>.json that read_heartbeat accepts") {
  TempDir dir;
  write_heartbeat_file(dir.path(), "my_server", sample_heartbeat());
  const auto path = dir / "my_server.json";
  CHECK(read_file(path) == serialize_heartbeat(sample_heartbeat()));
  CHECK(file_names(dir.path()) == std::vector<std::string>{"my_server.json"});
  CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::owner_read) !=
        std::filesystem::perms::none);
}

TEST_CASE("write_heartbeat_file replaces the previous heartbeat") {
  TempDir dir;
  HeartbeatData data = sample_heartbeat();
  write_heartbeat_file(dir.path(), "my_server", data);
  data.iteration = 43;
  data.status = "draining";
  write_heartbeat_file(dir.path(), "my_server", data);
  const auto result = read_heartbeat(dir / "my_server.json");
  REQUIRE(result.ok());
  CHECK(result.heartbeat->iteration == std::uint64_t{43});
  CHECK(result.heartbeat->status == "draining");
  CHECK(file_names(dir.path()) == std::vector<std::string>{"my_server.json"});
}

TEST_CASE("write_heartbeat_file creates the folder when it is missing") {
  TempDir dir;
  const auto nested = dir / "a" / "b" / "heartbeats";
  write_heartbeat_file(nested, "my_server", sample_heartbeat());
  CHECK(read_heartbeat(nested / "my_server.json").ok());
}

TEST_CASE("a folder that cannot be created throws system_error naming the folder") {
  TempDir dir;
  dir.write("blocker", "a regular file where a folder should be");
  const auto heartbeat_dir = dir / "blocker" / "heartbeats";
  CHECK_THROWS_AS(write_heartbeat_file(heartbeat_dir, "my_server", sample_heartbeat()),
                  std::system_error);
  CHECK_THROWS_WITH(write_heartbeat_file(heartbeat_dir, "my_server", sample_heartbeat()),
                    Contains("creating heartbeat folder \"" + heartbeat_dir.string() + "\""));
}

TEST_CASE("a heartbeat dir that is a regular file throws system_error naming the path") {
  TempDir dir;
  const auto not_a_dir = dir.write("heartbeats", "plain file");
  HeartbeatWriter writer(not_a_dir, "my_server");
  try {
    writer.beat();
    FAIL("beat() did not throw");
  } catch (const std::system_error& error) {
    CHECK_THAT(error.what(), Contains(not_a_dir.string()));
  }
  CHECK(writer.iteration() == 0);
  CHECK(read_file(not_a_dir) == "plain file");
}

TEST_CASE("a target that is a folder makes rename fail and the temp file is removed") {
  TempDir dir;
  std::filesystem::create_directories(dir / "my_server.json" / "inside");
  const auto target = (dir / "my_server.json").string();
  CHECK_THROWS_WITH(write_heartbeat_file(dir.path(), "my_server", sample_heartbeat()),
                    Equals("writing heartbeat file \"" + target + "\" (rename): Is a directory"));
  CHECK(file_names(dir.path()) == std::vector<std::string>{"my_server.json"});
}

TEST_CASE("a write that fails (RLIMIT_FSIZE) throws and leaves the previous heartbeat intact") {
  TempDir dir;
  HeartbeatWriter writer(dir.path(), "my_server");
  writer.beat("previous");
  const std::string previous = read_file(writer.path());

  const std::string report = run_in_child([&]() -> std::string {
    // Ignoring SIGXFSZ turns the oversized write into an EFBIG error instead of a kill.
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{10, 10};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return "setrlimit failed";
    try {
      writer.beat("next");
      return "beat did not throw";
    } catch (const std::system_error& error) {
      return std::string("system_error: ") + error.what() +
             " iteration=" + std::to_string(writer.iteration());
    } catch (const std::exception& error) {
      return std::string("other exception: ") + error.what();
    }
  });

  CHECK_THAT(report, Equals("system_error: writing heartbeat file \"" + writer.path().string() +
                            "\" (write): File too large iteration=1"));
  CHECK(read_file(writer.path()) == previous);
  CHECK(file_names(dir.path()) == std::vector<std::string>{"my_server.json"});
  CHECK(writer.iteration() == 1);
}

TEST_CASE("HeartbeatWriter round trip: read_heartbeat sees exactly what beat() wrote") {
  TempDir dir;
  HeartbeatWriter writer(dir.path(), "my_server");
  CHECK(writer.path() == dir / "my_server.json");
  CHECK(writer.process_key() == "my_server");
  CHECK(writer.iteration() == 0);

  const Timestamp before = now_micros();
  writer.beat();
  const Timestamp after = now_micros();

  const auto result = read_heartbeat(writer.path());
  REQUIRE(result.ok());
  const HeartbeatData& data = *result.heartbeat;
  CHECK(data.process_key == "my_server");
  CHECK(data.pid == ::getpid());
  CHECK(data.status == "running");
  CHECK(data.iteration == std::uint64_t{1});
  CHECK(data.timestamp >= before);
  CHECK(data.timestamp <= after);
  CHECK(writer.iteration() == 1);
}

TEST_CASE("iteration counts 1, 2, 3 and beat(status) writes the status") {
  TempDir dir;
  HeartbeatWriter writer(dir.path(), "worker");
  const char* statuses[] = {"running", "degraded", "running"};
  for (std::uint64_t expected = 1; expected <= 3; ++expected) {
    writer.beat(statuses[expected - 1]);
    const auto result = read_heartbeat(writer.path());
    REQUIRE(result.ok());
    CHECK(result.heartbeat->iteration == expected);
    CHECK(result.heartbeat->status == statuses[expected - 1]);
    CHECK(writer.iteration() == expected);
  }
}

TEST_CASE("beats leave no temp files behind") {
  TempDir dir;
  HeartbeatWriter writer(dir.path(), "my_server");
  for (int i = 0; i < 50; ++i) writer.beat();
  CHECK(file_names(dir.path()) == std::vector<std::string>{"my_server.json"});
}

TEST_CASE("stop() removes the heartbeat file and is idempotent") {
  TempDir dir;
  HeartbeatWriter writer(dir.path(), "my_server");
  writer.beat();
  REQUIRE(std::filesystem::exists(writer.path()));
  writer.stop();
  CHECK_FALSE(std::filesystem::exists(writer.path()));
  CHECK(read_heartbeat(writer.path()).failure->reason == ReadError::kMissing);
  CHECK_NOTHROW(writer.stop());
  CHECK(file_names(dir.path()).empty());
}

TEST_CASE("remove_heartbeat_file accepts a file that is gone but throws on other errors") {
  TempDir dir;
  CHECK_NOTHROW(remove_heartbeat_file(dir.path(), "never_written"));
  CHECK_NOTHROW(remove_heartbeat_file(dir / "no_such_dir", "never_written"));
  std::filesystem::create_directories(dir / "occupied.json");
  CHECK_THROWS_WITH(
      remove_heartbeat_file(dir.path(), "occupied"),
      Contains("removing heartbeat file \"" + (dir / "occupied.json").string() + "\""));
}

TEST_CASE("a reader never sees a torn heartbeat while another thread beats 5,000 times",
          "[threads]") {
  TempDir dir;
  HeartbeatWriter writer(dir.path(), "my_server");
  writer.beat();  // The target exists before reading starts, so "missing" is a real failure.

  constexpr std::uint64_t kBeats = 5000;
  std::atomic<bool> done{false};
  std::string writer_error;
  std::thread beater([&] {
    try {
      for (std::uint64_t i = 0; i < kBeats; ++i) writer.beat();
    } catch (const std::exception& error) {
      writer_error = error.what();
    }
    done = true;
  });

  std::uint64_t reads = 0;
  std::uint64_t failures = 0;
  std::uint64_t last_iteration = 0;
  bool went_backwards = false;
  std::string first_failure;
  while (!done) {
    const auto result = read_heartbeat(writer.path());
    ++reads;
    if (!result.ok()) {
      if (failures++ == 0) {
        first_failure =
            std::string(to_string(result.failure->reason)) + ": " + result.failure->message;
      }
      continue;
    }
    const std::uint64_t iteration = result.heartbeat->iteration.value_or(0);
    if (iteration < last_iteration) went_backwards = true;
    last_iteration = iteration;
  }
  beater.join();

  CHECK(writer_error.empty());
  INFO("first failure: " << first_failure);
  CHECK(failures == 0);
  CHECK(reads > 0);
  CHECK_FALSE(went_backwards);
  CHECK(writer.iteration() == kBeats + 1);
  CHECK(read_heartbeat(writer.path()).heartbeat->iteration == kBeats + 1);
  CHECK(file_names(dir.path()) == std::vector<std::string>{"my_server.json"});
}

TEST_CASE("beats from several threads are serialized: each iteration is written once",
          "[threads]") {
  TempDir dir;
  HeartbeatWriter writer(dir.path(), "my_server");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&writer] {
      for (int i = 0; i < 100; ++i) writer.beat();
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(writer.iteration() == 400);
  CHECK(read_heartbeat(writer.path()).heartbeat->iteration == std::uint64_t{400});
}

}  // namespace
}  // namespace heartbeat_exporter
