#include "heartbeat_exporter/writer.h"

#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
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

#include "heartbeat/writer_detail.h"
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

// Field 22 of /proc/self/stat, the start time in clock ticks, read here rather than with the
// code under test.
std::string own_start_ticks() {
  std::ifstream stat_file("/proc/self/stat");
  std::string line;
  std::getline(stat_file, line);
  std::istringstream fields(line.substr(line.rfind(')') + 2));
  std::string field;
  for (int n = 3; n <= 22; ++n) fields >> field;
  return field;
}

TEST_CASE("HeartbeatWriter writes this process's pid namespace and start ticks from /proc") {
  TempDir dir;
  HeartbeatWriter writer(dir.path(), "my_server");
  writer.beat();
  const auto result = read_heartbeat(writer.path());
  REQUIRE(result.ok());
  struct stat ns {};
  REQUIRE(::stat("/proc/self/ns/pid", &ns) == 0);
  CHECK(result.heartbeat->pid_namespace == std::uint64_t{ns.st_ino});
  CHECK(result.heartbeat->start_ticks == std::stoull(own_start_ticks()));
}

TEST_CASE("the child of a fork() writes its own pid and start ticks through the parent's writer") {
  TempDir dir;
  HeartbeatWriter writer(dir.path(), "my_server");
  writer.beat();  // the parent's identity is read, and kept
  const auto parent = read_heartbeat(writer.path());
  REQUIRE(parent.ok());
  // Two start ticks (10 ms each) after the parent's, even in a test runner started just now.
  std::this_thread::sleep_for(std::chrono::milliseconds(25));
  const std::string report = testing::run_in_child([&]() -> std::string {
    writer.beat();
    const auto child = read_heartbeat(writer.path());
    if (!child.ok()) return "unreadable";
    return std::to_string(child.heartbeat->pid == ::getpid()) + " " +
           std::to_string(child.heartbeat->start_ticks.value_or(0)) + " " + own_start_ticks();
  });
  std::istringstream words(report);
  std::string same_pid, written, actual;
  words >> same_pid >> written >> actual;
  INFO(report);
  CHECK(same_pid == "1");
  CHECK(written == actual);
  // A value kept from the parent would show here.
  REQUIRE(parent.heartbeat->start_ticks);
  CHECK(written != std::to_string(*parent.heartbeat->start_ticks));
  writer.beat();  // and the parent still writes its own
  const auto again = read_heartbeat(writer.path());
  REQUIRE(again.ok());
  CHECK(again.heartbeat->pid == ::getpid());
  CHECK(again.heartbeat->start_ticks == parent.heartbeat->start_ticks);
}

TEST_CASE("serialize_heartbeat writes pid_namespace and start_ticks last, and only when set") {
  HeartbeatData data = sample_heartbeat();
  data.start_ticks = 77;
  CHECK(
      serialize_heartbeat(data) ==
      "{\"process_key\":\"my_server\",\"pid\":12345,\"timestamp\":\"2026-02-05T06:17:29.601049+00:"
      "00\",\"status\":\"running\",\"iteration\":42,\"start_ticks\":77}");
  data.pid_namespace = 4026531836;
  CHECK(parse_heartbeat(serialize_heartbeat(data)).heartbeat->pid_namespace == 4026531836U);
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

HeartbeatData read_back(const HeartbeatWriter& writer) {
  const ReadResult read = read_heartbeat(writer.path());
  INFO((read.failure ? read.failure->message : ""));
  REQUIRE(read.ok());
  return *read.heartbeat;
}

TEST_CASE("start_run writes running with started_at, and beats during the run carry it") {
  TempDir dir;
  HeartbeatWriter writer(dir.path(), "backup");
  const Timestamp before = now_micros();
  writer.start_run();
  const HeartbeatData started = read_back(writer);
  CHECK(started.status == "running");
  CHECK(started.pid == ::getpid());
  REQUIRE(started.started_at);
  CHECK(*started.started_at >= before);
  CHECK(started.timestamp == *started.started_at);
  CHECK_FALSE(started.exit_code);
  CHECK_FALSE(started.duration);
  CHECK_FALSE(started.last_success);  // no run succeeded before

  writer.beat();
  const HeartbeatData beat = read_back(writer);
  CHECK(beat.started_at == started.started_at);
  CHECK(beat.iteration == 2);
  CHECK_FALSE(beat.exit_code);
}

TEST_CASE("finish_run(0) writes completed with exit code, duration and itself as last success") {
  TempDir dir;
  HeartbeatWriter writer(dir.path(), "backup");
  writer.start_run();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  writer.finish_run(0);
  const HeartbeatData done = read_back(writer);
  CHECK(done.status == "completed");
  CHECK(done.exit_code == 0);
  REQUIRE(done.started_at);
  REQUIRE(done.duration);
  CHECK(*done.duration >= std::chrono::milliseconds(20));
  CHECK(done.timestamp >= *done.started_at + *done.duration - std::chrono::milliseconds(1));
  CHECK(done.last_success == done.started_at);

  // After the run, a beat is a daemon's beat again.
  writer.beat();
  const HeartbeatData after = read_back(writer);
  CHECK_FALSE(after.started_at);
  CHECK_FALSE(after.exit_code);
}

TEST_CASE("a failed run keeps the last success of the run before, across writers and crashes") {
  TempDir dir;
  Timestamp first_start;
  {
    HeartbeatWriter writer(dir.path(), "backup");
    writer.start_run();
    writer.finish_run(0);
    first_start = *read_back(writer).started_at;
  }
  HeartbeatWriter writer(dir.path(), "backup");
  writer.start_run();
  CHECK(read_back(writer).last_success == first_start);  // carried by the running heartbeat
  writer.finish_run(3);
  HeartbeatData failed = read_back(writer);
  CHECK(failed.status == "failed");
  CHECK(failed.exit_code == 3);
  CHECK(failed.last_success == first_start);

  // A run killed before finish_run leaves its running heartbeat, which carries it on too.
  writer.start_run();
  HeartbeatWriter next(dir.path(), "backup");
  next.start_run();
  next.finish_run(128 + SIGKILL);
  failed = read_back(next);
  CHECK(failed.exit_code == 137);
  CHECK(failed.last_success == first_start);
}

TEST_CASE("an invalid previous heartbeat carries nothing forward") {
  TempDir dir;
  dir.write("backup.json", R"({"pid":1,"timestamp":"2026-02-05T06:17:29Z","status":"completed",)"
                           R"("last_success":"never"})");
  HeartbeatWriter writer(dir.path(), "backup");
  writer.start_run();
  writer.finish_run(1);
  CHECK_FALSE(read_back(writer).last_success);
}

TEST_CASE("finish_run refuses exit codes outside 0..255 and a call without a run") {
  TempDir dir;
  HeartbeatWriter writer(dir.path(), "backup");
  CHECK_THROWS_AS(writer.finish_run(0), std::logic_error);
  writer.start_run();
  const std::string running = read_file(writer.path());
  CHECK_THROWS_AS(writer.finish_run(-1), std::invalid_argument);
  CHECK_THROWS_AS(writer.finish_run(256), std::invalid_argument);
  CHECK(read_file(writer.path()) == running);
  writer.finish_run(255);  // the run is still in progress after a refused code
  CHECK(read_back(writer).exit_code == 255);
}

TEST_CASE("serialize_heartbeat refuses an exit code or a duration out of range") {
  HeartbeatData data = sample_heartbeat();
  data.exit_code = 256;
  CHECK_THROWS_WITH(serialize_heartbeat(data), Contains("exit_code"));
  data.exit_code = -1;
  CHECK_THROWS_AS(serialize_heartbeat(data), std::invalid_argument);
  data.exit_code.reset();
  data.duration = std::chrono::microseconds(-1);
  CHECK_THROWS_WITH(serialize_heartbeat(data), Contains("duration_seconds"));
  data.duration = std::chrono::seconds(1000000001);
  CHECK_THROWS_AS(serialize_heartbeat(data), std::invalid_argument);
  data.duration = std::chrono::microseconds(1500);
  CHECK_THAT(serialize_heartbeat(data), Contains(R"("duration_seconds":0.001500)"));
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

namespace heartbeat_exporter {
namespace {

constexpr uid_t kNobody = 65534;

// A symlink owned by `uid`, as if that user had planted it.
void plant_symlink(const std::filesystem::path& target, const std::filesystem::path& link,
                   uid_t uid) {
  std::filesystem::create_symlink(target, link);
  REQUIRE(::lchown(link.c_str(), uid, uid) == 0);
}

// The root-only tests: a folder others can write to, with a link planted by nobody.
struct PlantedFolder {
  TempDir dir;
  std::filesystem::path shared = dir / "shared";  // world-writable, sticky, like /tmp
  std::filesystem::path secret_dir = dir / "root_only";
  std::filesystem::path secret = secret_dir / "my_server.json";

  PlantedFolder() {
    if (::geteuid() != 0) FAIL("needs root: the test plants links owned by another user");
    std::filesystem::create_directories(shared);
    std::filesystem::permissions(shared, std::filesystem::perms(01777));
    std::filesystem::create_directories(secret_dir);
    std::filesystem::permissions(secret_dir, std::filesystem::perms(0700));
    std::ofstream(secret) << "root's own file";
  }

  // A folder of nobody's own in the shared one.
  std::filesystem::path nobodys_folder(const std::string& name) const {
    const auto folder = shared / name;
    std::filesystem::create_directory(folder);
    REQUIRE(::chown(folder.c_str(), kNobody, kNobody) == 0);
    return folder;
  }
};

TEST_CASE(
    "as root, a folder reached through a link that another user planted in a folder "
    "others can write to is refused: nothing is written, replaced or removed there") {
  PlantedFolder planted;
  const auto through = planted.shared / "hb";
  const auto relative = planted.shared / "rel";
  plant_symlink(planted.secret_dir, through, kNobody);
  plant_symlink("../root_only", relative, kNobody);

  for (const auto& dir : {through, relative}) {
    INFO(dir);
    CHECK_THROWS_WITH(
        write_heartbeat_file(dir, "my_server", sample_heartbeat()),
        Contains("refusing heartbeat folder \"" + dir.string() +
                 "\": unsafe path transition from \"" + dir.string() + "\" (uid 65534) to ") &&
            Contains("(uid 0); a user other than root decides where it leads: Operation not "
                     "permitted"));
    CHECK_THROWS_AS(remove_heartbeat_file(dir, "my_server"), std::system_error);
    CHECK_THROWS_AS(HeartbeatWriter(dir, "my_server").beat(), std::system_error);
  }
  CHECK(read_file(planted.secret) == "root's own file");
  CHECK(file_names(planted.secret_dir) == std::vector<std::string>{"my_server.json"});
}

TEST_CASE(
    "as root, a link that leads back up with .. through the linking user's own folder is "
    "refused too") {
  PlantedFolder planted;
  // nobody's own folder, then out of it with "..": every step after the link is checked.
  const auto own = planted.nobodys_folder("own");
  plant_symlink("own/../../root_only", planted.shared / "hb", kNobody);
  CHECK_THROWS_WITH(write_heartbeat_file(planted.shared / "hb", "my_server", sample_heartbeat()),
                    Contains("unsafe path transition from \"" + own.string() + "\" (uid 65534)"));
  CHECK(read_file(planted.secret) == "root's own file");
}

TEST_CASE(
    "as root, links that root made, and a user's link into that user's own folder, are "
    "followed") {
  PlantedFolder planted;
  plant_symlink(planted.secret_dir, planted.shared / "by_root", 0);
  write_heartbeat_file(planted.shared / "by_root", "worker", sample_heartbeat());
  CHECK(read_heartbeat(planted.secret_dir / "worker.json").ok());

  const auto own = planted.nobodys_folder("own");
  plant_symlink("own", planted.shared / "to_own", kNobody);
  write_heartbeat_file(planted.shared / "to_own", "worker", sample_heartbeat());
  CHECK(read_heartbeat(own / "worker.json").ok());
  remove_heartbeat_file(planted.shared / "to_own", "worker");
  CHECK(file_names(own).empty());
}

TEST_CASE(
    "not as root, the same planted link is followed: the user can only be led where it "
    "may write anyway") {
  PlantedFolder planted;
  const auto theirs = planted.dir / "theirs";
  std::filesystem::create_directory(theirs);
  REQUIRE(::chown(theirs.c_str(), kNobody, kNobody) == 0);
  std::filesystem::permissions(planted.dir.path(), std::filesystem::perms(0755));
  plant_symlink(theirs, planted.shared / "hb", 1);  // daemon's link, followed by nobody
  const std::string report = run_in_child([&]() -> std::string {
    if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) {
      return "dropping privileges failed";
    }
    try {
      write_heartbeat_file(planted.shared / "hb", "worker", sample_heartbeat());
      return "written";
    } catch (const std::exception& error) {
      return error.what();
    }
  });
  CHECK(report == "written");
  CHECK(read_heartbeat(theirs / "worker.json").ok());
}

TEST_CASE(
    "10,000 names planted where the temp files of old went (pid and counter) cannot block "
    "a beat") {
  TempDir dir;
  for (int i = 0; i < 10000; ++i) {
    std::filesystem::create_symlink(
        "/nonexistent",
        dir / (".my_server.json." + std::to_string(::getpid()) + "." + std::to_string(i) + ".tmp"));
  }
  HeartbeatWriter writer(dir.path(), "my_server");
  for (int i = 0; i < 20; ++i) writer.beat();
  CHECK(writer.iteration() == 20);
  CHECK(read_heartbeat(writer.path()).heartbeat->iteration == std::uint64_t{20});
  CHECK(file_names(dir.path()).size() == 10001);
}

TEST_CASE("HeartbeatFolder::read does not follow a heartbeat that is a symlink") {
  TempDir dir;
  const auto target = dir / "elsewhere.json";
  write_heartbeat_file(dir.path(), "elsewhere", sample_heartbeat());
  std::filesystem::create_directory(dir / "hb");
  std::filesystem::create_symlink(target, dir / "hb/my_server.json");
  const auto folder =
      detail::HeartbeatFolder::open(dir / "hb", detail::HeartbeatFolder::Missing::kFail);
  const ReadResult read = folder.read("my_server");
  REQUIRE(read.failure.has_value());
  CHECK(read.failure->reason == ReadError::kSymlink);
  // The write replaces the link itself, not its target.
  folder.write("my_server", sample_heartbeat());
  CHECK(
      std::filesystem::is_regular_file(std::filesystem::symlink_status(dir / "hb/my_server.json")));
  CHECK(read_heartbeat(target).ok());
}

TEST_CASE("a folder that is missing is ENOENT with kFail and is created with kCreate") {
  TempDir dir;
  try {
    detail::HeartbeatFolder::open(dir / "a/b", detail::HeartbeatFolder::Missing::kFail);
    FAIL("no exception");
  } catch (const std::system_error& error) {
    CHECK(error.code() == std::errc::no_such_file_or_directory);
    CHECK_THAT(error.what(), Equals("opening heartbeat folder \"" + (dir / "a/b").string() +
                                    "\": No such file or directory"));
  }
  const auto folder =
      detail::HeartbeatFolder::open(dir / "a/./b/", detail::HeartbeatFolder::Missing::kCreate);
  CHECK(std::filesystem::is_directory(dir / "a/b"));
  CHECK(folder.path() == dir / "a/./b/");
}

}  // namespace
}  // namespace heartbeat_exporter
