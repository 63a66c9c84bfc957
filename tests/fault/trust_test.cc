// Heartbeat folders are a trust boundary: whoever can write to one (here the user nobody, acting
// through setpriv) must not be able to make a root exporter or a root heartbeatctl read, show,
// replace or delete anything else, nor fool the operator's terminal. One test per attack; the
// memory and scale attacks are in tests/soak/hostile_folder_test.cc.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "fault/fault_support.h"
#include "heartbeat_exporter/reader.h"
#include "heartbeat_exporter/timestamp.h"
#include "heartbeat_exporter/writer.h"
#include "soak/load.h"
#include "support/http_client.h"
#include "support/open_watch.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

using namespace heartbeat_exporter;
using namespace heartbeat_exporter::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// A folder only root can enter, holding a root-only file with `content`.
fs::path root_only_file(const TempDir& dir, const std::string& name, const std::string& content) {
  const auto folder = dir / "root_only";
  fs::create_directories(folder);
  fs::permissions(folder, fs::perms(0700));
  const auto file = folder / name;
  std::ofstream(file) << content;
  fs::permissions(file, fs::perms(0600));
  return file;
}

std::string heartbeat(std::int64_t pid, const std::string& status, std::uint64_t iteration) {
  return serialize_heartbeat(
      HeartbeatData{"secret_key", pid,
                    std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now()),
                    status, iteration});
}

RunResult ctl(std::vector<std::string> args) {
  args.insert(args.begin(), HEARTBEATCTL_BINARY);
  return run(args);
}

}  // namespace

TEST_CASE(
    "symlinks nobody plants in a heartbeat folder show a root exporter's scrape and landing page "
    "nothing of their targets, not even whether they exist, and no target is ever opened",
    "[fault]") {
  TempDir dir;
  require_root_and_reachable(dir.path());
  const auto secret =
      root_only_file(dir, "secret.json", heartbeat(1, "TOP-SECRET-STATUS", 987654321));
  const auto pipe = dir / "root_only/pipe";
  REQUIRE(::mkfifo(pipe.c_str(), 0600) == 0);
  const auto hb = shared_folder(dir, "hb");
  as_nobody({"ln", "-s", secret.string(), (hb / "leak.json").string()});
  as_nobody({"ln", "-s", "/etc/shadow", (hb / "shadow.json").string()});
  as_nobody({"ln", "-s", (dir / "root_only/absent").string(), (hb / "probe.json").string()});
  as_nobody({"ln", "-s", (dir / "root_only").string(), (hb / "folder.json").string()});
  as_nobody({"ln", "-s", pipe.string(), (hb / "pipe.json").string()});
  as_nobody({"mkfifo", (hb / "fifo.json").string()});
  as_nobody({HEARTBEATCTL_BINARY, "beat", "--dir", hb.string(), "--key", "own"});
  OpenWatch secret_opens(secret), pipe_opens(pipe), fifo_opens(hb / "fifo.json");
  const auto config = dir.write("config.json", R"({"heartbeat_dirs": [{"path": "hb"}]})");
  WrappedExporter exporter({}, config, dir.path());

  const std::vector<std::string> links = {"folder", "leak", "pipe", "probe", "shadow"};
  Exposition exposition = scrape_ok(exporter.port());
  CHECK(processes_of(exposition) ==
        std::set<std::string>{"fifo", "folder", "leak", "own", "pipe", "probe", "shadow"});
  CHECK(exposition.state("own") == "healthy");
  for (const auto& key : links) {
    INFO(key);
    CHECK(exposition.state(key) == "no_heartbeat");
    CHECK_FALSE(exposition.sample(R"(heartbeat_iteration_total{process=")" + key + "\"}"));
    CHECK_FALSE(exposition.sample(R"(heartbeat_pid{process=")" + key + "\"}"));
  }
  CHECK(exposition.state("fifo") == "no_heartbeat");
  CHECK(exposition.sample(R"(heartbeat_exporter_read_errors_total{reason="symlink"})") == "5");
  CHECK(exposition.sample(R"(heartbeat_exporter_read_errors_total{reason="not_regular_file"})") ==
        "1");
  const std::string body = http_get(exporter.port(), "/metrics").body;
  CHECK(body.find("987654321") == std::string::npos);

  const auto page = http_get(exporter.port(), "/");
  REQUIRE(page.status == 200);
  CHECK(page.body.find("TOP-SECRET") == std::string::npos);
  CHECK(page.body.find("987654321") == std::string::npos);
  // The same reason for an existing file, a missing one and a folder: nothing to probe with.
  for (const auto& key : links) {
    INFO(key);
    CHECK(page.body.find("<td>heartbeat file &quot;" + (hb / key).string() +
                         ".json&quot; is a symbolic link and is not followed</td>") !=
          std::string::npos);
  }
  const std::string log = exporter.process().stderr_text();
  CHECK(log.find("TOP-SECRET") == std::string::npos);
  CHECK(log_lines(log, {"reason=symlink"}).size() == links.size());

  const int opens = secret_opens.opens() + pipe_opens.opens() + fifo_opens.opens();
  std::printf(
      "fault: symlinks: %zu links planted by nobody, 1 FIFO: %d opens of their targets or the "
      "FIFO, read errors symlink %s, not_regular_file %s\n",
      links.size(), opens,
      exposition.sample(R"(heartbeat_exporter_read_errors_total{reason="symlink"})")
          .value_or("-")
          .c_str(),
      exposition.sample(R"(heartbeat_exporter_read_errors_total{reason="not_regular_file"})")
          .value_or("-")
          .c_str());
  CHECK(opens == 0);
}

TEST_CASE(
    "a folder that opts in with follow_symlinks follows them, and a configured heartbeat_path is "
    "followed as the administrator wrote it",
    "[fault]") {
  TempDir dir;
  HeartbeatWriter(dir / "real", "target").beat();
  fs::create_directories(dir / "links");
  fs::create_symlink(dir / "real/target.json", dir / "links/linked.json");
  fs::create_symlink(dir / "real/target.json", dir / "configured.json");
  const auto config = dir.write("config.json", R"({
    "processes": {"configured": {"heartbeat_path": "configured.json"}},
    "heartbeat_dirs": [{"path": "links", "follow_symlinks": true}]})");
  WrappedExporter exporter({}, config, dir.path());
  Exposition exposition = scrape_ok(exporter.port());
  CHECK(exposition.state("linked") == "healthy");
  CHECK(exposition.state("configured") == "healthy");
  CHECK(exposition.sample(R"(heartbeat_exporter_read_errors_total{reason="symlink"})") == "0");
}

TEST_CASE(
    "heartbeatctl run as root refuses a --dir through a symlink nobody planted in a folder others "
    "can write to, so beat replaces and stop deletes nothing elsewhere",
    "[fault]") {
  TempDir dir;
  require_root_and_reachable(dir.path());
  const auto target = root_only_file(dir, "job.json", "root's own file");
  const auto shared = shared_folder(dir, "shared");
  as_nobody({"ln", "-s", target.parent_path().string(), (shared / "absolute").string()});
  as_nobody({"ln", "-s", "../root_only", (shared / "relative").string()});

  for (const char* link : {"absolute", "relative"}) {
    INFO(link);
    const auto folder = (shared / link).string();
    auto beat = ctl({"beat", "--dir", folder, "--key", "job"});
    CHECK(beat.exit_code == 1);
    CHECK(beat.err.find("heartbeatctl: refusing heartbeat folder \"" + folder +
                        "\": unsafe path transition from \"" + folder + "\" (uid 65534) to ") !=
          std::string::npos);
    auto stop = ctl({"stop", "--dir", folder, "--key", "job"});
    CHECK(stop.exit_code == 1);
    CHECK(stop.err.find("unsafe path transition") != std::string::npos);
  }
  const bool intact = read_file(target) == "root's own file";
  std::printf("fault: planted parent symlink: root's file %s\n",
              intact ? "intact" : "replaced or removed");
  CHECK(intact);
  CHECK(file_names(target.parent_path()) == std::set<std::string>{"job.json"});
}

TEST_CASE(
    "100,000 names nobody planted where heartbeatctl used to put its temp files (pid and "
    "counter) cannot make a root beat fail",
    "[fault]") {
  TempDir dir;
  require_root_and_reachable(dir.path());
  const auto shared = shared_folder(dir, "shared");
  long last_pid = 0;
  std::ifstream("/proc/sys/kernel/ns_last_pid") >> last_pid;
  // Counters 0 to 99 (every name one heartbeatctl tried) for the next 1,000 pids, so that the
  // beats below get one of them even when other processes start meanwhile.
  constexpr long kPids = 1000;
  as_nobody_in_child([&] {
    for (long pid = last_pid + 1; pid <= last_pid + kPids; ++pid) {
      for (int counter = 0; counter < 100; ++counter) {
        const auto name =
            ".job.json." + std::to_string(pid) + "." + std::to_string(counter) + ".tmp";
        if (::symlink("/etc/passwd", (shared / name).c_str()) != 0) return 1;
      }
    }
    return 0;
  });
  REQUIRE(file_names(shared).size() == 100 * kPids);

  int beats = 0;
  std::string first_error;
  for (int i = 0; i < 5; ++i) {
    auto result = ctl({"beat", "--dir", shared.string(), "--key", "job"});
    if (result.exit_code == 0) {
      ++beats;
    } else if (first_error.empty()) {
      first_error = result.err;
    }
  }
  std::printf("fault: %ld planted temp names: %d of 5 beats written%s%s\n", 100 * kPids, beats,
              first_error.empty() ? "" : "; first error: ", first_error.c_str());
  INFO(first_error);
  CHECK(beats == 5);
  CHECK(read_heartbeat(shared / "job.json").heartbeat->iteration == 5u);
  CHECK(file_names(shared).size() == 100 * kPids + 1);
}

TEST_CASE(
    "heartbeatctl beat as root does not read the previous iteration through a heartbeat nobody "
    "replaced with a symlink, and replaces the link, not its target",
    "[fault]") {
  TempDir dir;
  require_root_and_reachable(dir.path());
  const std::string secret_content = heartbeat(1, "running", 41);
  const auto secret = root_only_file(dir, "secret.json", secret_content);
  const auto shared = shared_folder(dir, "shared");
  as_nobody({"ln", "-s", secret.string(), (shared / "job.json").string()});

  auto result = ctl({"beat", "--dir", shared.string(), "--key", "job"});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  const ReadResult written = read_heartbeat(shared / "job.json");
  REQUIRE(written.ok());
  std::printf("fault: symlinked previous heartbeat (iteration 41): the beat wrote iteration %llu\n",
              static_cast<unsigned long long>(written.heartbeat->iteration.value_or(0)));
  CHECK(written.heartbeat->iteration == 1u);
  CHECK(fs::is_regular_file(fs::symlink_status(shared / "job.json")));
  CHECK(read_file(secret) == secret_content);
}

TEST_CASE(
    "heartbeatctl check prints a status and a file name nobody wrote with escape sequences "
    "escaped, so no terminal clear, no window title, no fake all-clear",
    "[fault]") {
  TempDir dir;
  require_root_and_reachable(dir.path());
  const auto shared = shared_folder(dir, "shared");
  const std::string hostile =
      "\x1b[2J\x1b[H\x1b]0;owned\x07\x1b[32mALL HEALTHY\x1b[0m\r\n\xc2\x9b"
      "8m";
  as_nobody(
      {HEARTBEATCTL_BINARY, "beat", "--dir", shared.string(), "--key", "job", "--status", hostile});
  as_nobody({"sh", "-c", "printf '{' > \"$1\"", "sh", (shared / "x\x1b[8mhidden.json").string()});
  const auto config = dir.write("config.json", R"({"heartbeat_dirs": [{"path": "shared"}]})");

  auto check = ctl({"check", "--config.file", config.string()});
  CHECK(check.exit_code == 1);
  std::size_t controls = 0;
  for (std::size_t i = 0; i < check.out.size(); ++i) {
    const auto byte = static_cast<unsigned char>(check.out[i]);
    const auto next = i + 1 < check.out.size() ? static_cast<unsigned char>(check.out[i + 1]) : 0;
    if ((byte < 0x20 && byte != '\n') || byte == 0x7f ||
        (byte == 0xc2 && next >= 0x80 && next <= 0x9f)) {
      ++controls;
    }
  }
  std::printf("fault: heartbeatctl check over a hostile status: %zu raw control characters\n",
              controls);
  // Printed with every control byte spelled out: raw, they would garble the test's own report,
  // and Catch's console reporter cannot wrap the long runs of <hh> either.
  std::string shown;
  for (const char c : check.out) {
    const auto byte = static_cast<unsigned char>(c);
    char hex[8];
    std::snprintf(hex, sizeof hex, "<%02x>", byte);
    shown += byte < 0x20 || byte >= 0x7f ? std::string(hex) : std::string(1, c);
  }
  if (controls != 0) std::printf("fault: heartbeatctl check printed:\n%s\n", shown.c_str());
  CHECK(controls == 0);
  // Named, so that the report shows no long run of escapes (Catch's console reporter cannot
  // wrap one).
  const bool status_escaped =
      check.out.find("\\x1b[2J\\x1b[H\\x1b]0;owned\\x07\\x1b[32mALL HEALTHY") != std::string::npos;
  const bool name_escaped = check.out.find("x\\x1b[8mhidden") != std::string::npos;
  CHECK(status_escaped);
  CHECK(name_escaped);
}

TEST_CASE(
    "le, quantile, job, instance and exported_* as static labels stop the exporter at start with "
    "one line that suggests another name",
    "[fault]") {
  TempDir dir;
  for (const auto& [name, instead] :
       std::vector<std::pair<std::string, std::string>>{{"le", "limit"},
                                                        {"quantile", "percentile"},
                                                        {"job", "service"},
                                                        {"instance", "host"},
                                                        {"exported_team", "team"}}) {
    INFO(name);
    const auto config =
        dir.write("config.json",
                  R"({"heartbeat_dirs": [{"path": "hb", "labels": {")" + name + R"(": "x"}}]})");
    auto result = run({HEARTBEAT_EXPORTER_BINARY, "--config.file=" + config.string(),
                       "--web.listen-address=127.0.0.1:0"});
    CHECK(result.exit_code == 1);
    CHECK(log_lines(result.err, {"level=error", "heartbeat_dirs[0].labels." + name + ":",
                                 "use another name, such as \\\"" + instead + "\\\""})
              .size() == 1);
  }
}

TEST_CASE(
    "an exporter running as root warns once per heartbeat folder that others can write to, at "
    "start and at each reload, and run as nobody it does not",
    "[fault]") {
  TempDir dir;
  require_root_and_reachable(dir.path());
  shared_folder(dir, "open");
  fs::create_directories(dir / "theirs");
  REQUIRE(::chown((dir / "theirs").c_str(), kNobody, kNobody) == 0);
  fs::create_directories(dir / "closed");
  fs::permissions(dir / "closed", fs::perms(0755));
  const auto config = dir.write(
      "config.json",
      R"({"heartbeat_dirs": [{"path": "open"}, {"path": "theirs"}, {"path": "closed"}]})");
  fs::permissions(config, fs::perms(0644));
  const std::string warning = "heartbeat folder is writable by users other than root";

  {
    WrappedExporter exporter({}, config, dir.path());
    CHECK(log_lines(exporter.process().stderr_text(), {warning}).size() == 2);
    exporter.process().signal(SIGHUP);
    // The reload's warnings follow its "configuration reloaded" line.
    std::string log;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (log_lines(log, {warning}).size() < 4 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
      log = exporter.process().stderr_text();
    }
    INFO(log);
    CHECK(log_lines(log,
                    {warning, "dir=" + (dir / "open").string(), "why=\"owner uid 0, mode 1777\""})
              .size() == 2);
    CHECK(log_lines(log, {warning, "dir=" + (dir / "theirs").string(),
                          "why=\"owner uid 65534, mode 0755\""})
              .size() == 2);
    CHECK(log_lines(log, {warning}).size() == 4);
  }
  WrappedExporter unprivileged(kAsNobody, config, dir.path());
  scrape_ok(unprivileged.port());
  CHECK(log_lines(unprivileged.process().stderr_text(), {warning}).empty());
}
