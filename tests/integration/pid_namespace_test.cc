// The pid check across pid namespaces with real namespaces: writers in `unshare --pid` children
// (each its own pid namespace, as a pod is), the exporter as uid 65534 in the initial namespace
// (the shipped DaemonSet: hostPID, nobody) and in a child namespace (a pod without hostPID).
// Creating pid namespaces needs root, which CI has; without it these tests fail, never skip.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "heartbeat_exporter/reader.h"
#include "heartbeat_exporter/timestamp.h"
#include "support/http_client.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

using namespace heartbeat_exporter;
using namespace heartbeat_exporter::testing;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> kAsNobody = {"/usr/bin/setpriv", "--reuid", "65534",
                                            "--regid",          "65534",   "--clear-groups"};
// A new pid namespace with its own /proc, whose processes die with the unshare process.
const std::vector<std::string> kInNewPidNamespace = {"/usr/bin/unshare", "--pid", "--fork",
                                                     "--mount-proc", "--kill-child"};

// A pod: a shell that is pid 1 of a new pid namespace beats once through heartbeatctl (which
// records its parent, the shell) and then becomes `sleep`, keeping its pid and start time.
class Pod {
 public:
  Pod(const TempDir& dir, const std::string& key) {
    std::vector<std::string> argv = kInNewPidNamespace;
    argv.insert(argv.end(),
                {"sh", "-c",
                 std::string(HEARTBEATCTL_BINARY) + " beat --dir " + (dir / "heartbeats").string() +
                     " --key " + key + " && exec sleep 600"});
    process_ = std::make_unique<Subprocess>(argv, dir.path());
    heartbeat_ = dir / "heartbeats" / (key + ".json");
    for (int tries = 0; tries < 500 && !read_heartbeat(heartbeat_).ok(); ++tries) {
      std::this_thread::sleep_for(10ms);
    }
  }
  HeartbeatData heartbeat() const {
    auto read = read_heartbeat(heartbeat_);
    if (!read.ok()) throw std::runtime_error("no heartbeat: " + read.failure->message);
    return *read.heartbeat;
  }
  // The writer itself, by its host pid: unshare's only child.
  void kill_writer() const {
    const std::string pid = std::to_string(process_->pid());
    std::ifstream children("/proc/" + pid + "/task/" + pid + "/children");
    pid_t writer = 0;
    children >> writer;
    if (writer <= 0) throw std::runtime_error("the pod's writer was not found");
    ::kill(writer, SIGKILL);
  }

 private:
  std::unique_ptr<Subprocess> process_;
  std::filesystem::path heartbeat_;
};

// A folder that uid 65534 can read, with a config that discovers the pods' heartbeats.
std::filesystem::path make_config(const TempDir& dir) {
  std::filesystem::create_directories(dir / "heartbeats");
  for (const auto& path : {dir.path(), dir / "heartbeats"}) {
    std::filesystem::permissions(path, std::filesystem::perms(0755));
  }
  return dir.write("config.json", R"({"heartbeat_dirs": [{"path": ")" +
                                      (dir / "heartbeats").string() +
                                      R"(", "timeout_seconds": 600}]})");
}

bool has_line(const std::string& body, const std::string& line) {
  return body.find("\n" + line + "\n") != std::string::npos;
}

std::string state_line(const std::string& process, const std::string& state) {
  return "heartbeat_state{process=\"" + process + "\",state=\"" + state + "\"} 1";
}

}  // namespace

TEST_CASE(
    "writers in two pid namespaces at the same inner pid are told apart, and a killed one "
    "is STALE_PID",
    "[integration]") {
  TempDir dir;
  const auto config = make_config(dir);
  Pod pod_a(dir, "pod_a");
  Pod pod_b(dir, "pod_b");
  const HeartbeatData a = pod_a.heartbeat();
  const HeartbeatData b = pod_b.heartbeat();
  // Both shells are pid 1 of their namespace, which on the host is init, always alive.
  CHECK(a.pid == 1);
  CHECK(b.pid == 1);
  REQUIRE(a.pid_namespace);
  REQUIRE(b.pid_namespace);
  CHECK(*a.pid_namespace != *b.pid_namespace);
  CHECK(a.start_ticks.has_value());

  Exporter exporter(config, dir.path(), {}, kAsNobody);
  auto body = http_get(exporter.port(), "/metrics").body;
  CHECK(has_line(body, state_line("pod_a", "healthy")));
  CHECK(has_line(body, state_line("pod_b", "healthy")));

  pod_a.kill_writer();
  // The kernel reaps a namespace's killed init asynchronously: a zombie is STALE_PID too.
  for (int tries = 0; tries < 100; ++tries) {
    body = http_get(exporter.port(), "/metrics").body;
    if (!has_line(body, state_line("pod_a", "healthy"))) break;
    std::this_thread::sleep_for(20ms);
  }
  CHECK(has_line(body, state_line("pod_a", "stale_pid")));
  CHECK(has_line(body, state_line("pod_b", "healthy")));
  // Once gone, the reason names the namespace; the next scrape says the same from the cache.
  for (int tries = 0; tries < 100; ++tries) {
    body = http_get(exporter.port(), "/").body;
    if (body.find("no process with pid 1 in pid namespace " + std::to_string(*a.pid_namespace)) !=
        std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  CHECK(body.find("no process with pid 1 in pid namespace " + std::to_string(*a.pid_namespace)) !=
        std::string::npos);
  body = http_get(exporter.port(), "/metrics").body;
  CHECK(has_line(body, state_line("pod_a", "stale_pid")));
  CHECK(has_line(body, state_line("pod_b", "healthy")));
  CHECK(has_line(
      body, "heartbeat_exporter_pid_checks_skipped_total{reason=\"namespace_not_visible\"} 0"));
}

TEST_CASE("an exporter in a child pid namespace skips the pid check of other namespaces, by age",
          "[integration]") {
  TempDir dir;
  const auto config = make_config(dir);
  Pod pod_a(dir, "pod_a");
  const HeartbeatData a = pod_a.heartbeat();
  REQUIRE(a.pid_namespace);
  const std::string not_visible =
      "pid namespace " + std::to_string(*a.pid_namespace) + " is not visible from the exporter";

  // A root shell is the namespace's pid 1 and starts the exporter as nobody. Not setpriv itself:
  // the change of user clears --kill-child's death signal, so an exporter that was pid 1 would
  // outlive the test; the shell keeps it, and when pid 1 dies the kernel kills the rest.
  std::vector<std::string> launcher = kInNewPidNamespace;
  launcher.insert(launcher.end(), {"/bin/sh", "-c", "\"$@\" & wait", "sh"});
  launcher.insert(launcher.end(), kAsNobody.begin(), kAsNobody.end());
  Exporter exporter(config, dir.path(), {}, launcher);
  auto body = http_get(exporter.port(), "/metrics").body;
  CHECK(has_line(body, state_line("pod_a", "healthy")));
  CHECK(http_get(exporter.port(), "/").body.find(not_visible) != std::string::npos);

  // The writer is gone, but from here that cannot be known: still judged by age, never STALE_PID.
  pod_a.kill_writer();
  std::this_thread::sleep_for(200ms);
  body = http_get(exporter.port(), "/metrics").body;
  CHECK(has_line(body, state_line("pod_a", "healthy")));
  CHECK(body.find(state_line("pod_a", "stale_pid")) == std::string::npos);
  CHECK(http_get(exporter.port(), "/").body.find(not_visible) != std::string::npos);
  CHECK(body.find("heartbeat_exporter_pid_checks_skipped_total{reason=\"namespace_not_visible\"} "
                  "0") == std::string::npos);
}

TEST_CASE("hostile identities in heartbeats give one process's state, never a failed scrape",
          "[integration]") {
  TempDir dir;
  const auto config = make_config(dir);
  const std::string ts = "\"timestamp\": \"" +
                         format_timestamp(std::chrono::floor<std::chrono::microseconds>(
                             std::chrono::system_clock::now())) +
                         "\"";
  const std::pair<const char*, std::string> files[] = {
      {"huge_pid",
       R"({"pid": 4194304, "status": "running", "pid_namespace": 4026532841, "start_ticks": 1, )" +
           ts + "}"},
      {"huge_ticks",
       R"({"pid": 7, "status": "running", "pid_namespace": 18446744073709551615, "start_ticks": 18446744073709551615, )" +
           ts + "}"},
      {"negative_ticks",
       R"({"pid": 7, "status": "running", "pid_namespace": 4026532841, "start_ticks": -1, )" + ts +
           "}"},
      {"string_namespace",
       R"({"pid": 7, "status": "running", "pid_namespace": "4026532841", )" + ts + "}"},
      {"no_ticks", R"({"pid": 7, "status": "running", "pid_namespace": 4026532841, )" + ts + "}"},
  };
  for (const auto& [key, content] : files) {
    dir.write("heartbeats/" + std::string(key) + ".json", content);
  }
  Exporter exporter(config, dir.path(), {}, kAsNobody);
  for (int scrape = 0; scrape < 3; ++scrape) {
    const auto response = http_get(exporter.port(), "/metrics");
    REQUIRE(response.status == 200);
    const std::string& body = response.body;
    CHECK(has_line(body, state_line("huge_pid", "stale_pid")));
    CHECK(has_line(body, state_line("huge_ticks", "stale_pid")));
    CHECK(has_line(body, state_line("negative_ticks", "no_heartbeat")));
    CHECK(has_line(body, state_line("string_namespace", "no_heartbeat")));
    CHECK(has_line(body, state_line("no_ticks", "healthy")));
    CHECK(has_line(body, "heartbeat_exporter_pid_checks_skipped_total{reason=\"no_start_ticks\"} " +
                             std::to_string(scrape + 1)));
  }
}

TEST_CASE("heartbeatctl beat records the pid namespace and start ticks of the pid it records",
          "[integration]") {
  TempDir dir;
  make_config(dir);
  const std::string folder = (dir / "heartbeats").string();
  // Beats as `key`, run through `launcher`, with `flags`; returns what it wrote.
  auto beat = [&](const std::string& key, std::vector<std::string> launcher,
                  const std::vector<std::string>& flags) {
    launcher.insert(launcher.end(),
                    {std::string(HEARTBEATCTL_BINARY), "beat", "--dir", folder, "--key", key});
    launcher.insert(launcher.end(), flags.begin(), flags.end());
    const auto result = run(launcher);
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    const auto read = read_heartbeat(dir / "heartbeats" / (key + ".json"));
    REQUIRE(read.ok());
    return *read.heartbeat;
  };
  auto start_ticks_of = [](pid_t pid) {
    std::ifstream stat_file("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat_file, line);
    std::istringstream fields(line.substr(line.rfind(')') + 2));
    std::string field;
    for (int n = 3; n <= 22; ++n) fields >> field;
    return std::stoull(field);
  };
  struct stat own_namespace {};
  REQUIRE(::stat("/proc/self/ns/pid", &own_namespace) == 0);

  // Its parent by default: this test.
  HeartbeatData data = beat("parent", {}, {});
  CHECK(data.pid == ::getpid());
  CHECK(data.pid_namespace == std::uint64_t{own_namespace.st_ino});
  CHECK(data.start_ticks == start_ticks_of(::getpid()));

  Subprocess sleeper({"/bin/sleep", "60"}, dir.path());
  const std::string sleeper_pid = std::to_string(sleeper.pid());
  data = beat("sleeper", {}, {"--pid", sleeper_pid});
  CHECK(data.pid_namespace == std::uint64_t{own_namespace.st_ino});
  CHECK(data.start_ticks == start_ticks_of(sleeper.pid()));

  // uid 65534 may not trace root's process: its namespace is left out, never guessed, while
  // its stat is public.
  std::filesystem::permissions(dir / "heartbeats", std::filesystem::perms(0777));
  data = beat("sleeper_as_nobody", kAsNobody, {"--pid", sleeper_pid});
  CHECK_FALSE(data.pid_namespace);
  CHECK(data.start_ticks == start_ticks_of(sleeper.pid()));

  // A pid nobody holds: neither.
  data = beat("nobody_holds", {}, {"--pid", "4194304"});
  CHECK_FALSE(data.pid_namespace);
  CHECK_FALSE(data.start_ticks);
}
