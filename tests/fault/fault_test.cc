// Faults around the built binaries: a heartbeat folder that vanishes, files the exporter may not
// read, writers out of space, and a config file replaced while reloads happen.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fault/fault_support.h"
#include "heartbeat_exporter/writer.h"
#include "soak/load.h"
#include "support/http_client.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

using namespace heartbeat_exporter;
using namespace heartbeat_exporter::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string uid_line(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("Uid:")) return line;
  }
  return "";
}

struct Outcome {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;      // the signal that killed it
  std::string err;
};

// Runs a program with RLIMIT_FSIZE set to `max_bytes`, as `ulimit -f` would; with `ignore_xfsz`
// the oversized write fails with EFBIG instead of killing the program with SIGXFSZ.
Outcome run_with_file_size_limit(const std::vector<std::string>& argv, rlim_t max_bytes,
                                 bool ignore_xfsz) {
  int err_pipe[2];
  REQUIRE(::pipe2(err_pipe, O_CLOEXEC) == 0);
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Only async-signal-safe calls between fork and exec.
    const rlimit limit{max_bytes, max_bytes};
    ::signal(SIGXFSZ, ignore_xfsz ? SIG_IGN : SIG_DFL);
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(126);
    ::dup2(err_pipe[1], 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(err_pipe[1]);
  Outcome outcome;
  char buffer[4096];
  for (ssize_t got; (got = ::read(err_pipe[0], buffer, sizeof buffer)) > 0;) {
    outcome.err.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(err_pipe[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  if (WIFEXITED(status)) outcome.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) outcome.signal = WTERMSIG(status);
  return outcome;
}

std::vector<std::string> beat_command(const fs::path& dir, const std::string& key) {
  return {HEARTBEATCTL_BINARY,       "beat", "--dir", dir.string(), "--key", key, "--pid",
          std::to_string(::getpid())};
}

// A tmpfs mounted for the test and detached when it ends, even when the test fails.
class SmallTmpfs {
 public:
  explicit SmallTmpfs(fs::path where) : where_(std::move(where)) {
    fs::create_directories(where_);
    if (::mount("tmpfs", where_.c_str(), "tmpfs", 0, "size=64k") != 0) error_ = errno;
  }
  ~SmallTmpfs() {
    if (error_ == 0) ::umount2(where_.c_str(), MNT_DETACH);
  }
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
  int error() const { return error_; }

 private:
  fs::path where_;
  int error_ = 0;
};

// Fills the file system holding `dir` until a write fails; returns that write's errno.
int fill(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  const std::string chunk(4096, 'x');
  int error = 0;
  while (error == 0) {
    if (::write(fd, chunk.data(), chunk.size()) < 0) error = errno;
  }
  ::close(fd);
  return error;
}

}  // namespace

TEST_CASE(
    "a heartbeat folder deleted and recreated: scrapes go on, the gap is one discovery error and "
    "one log line each way, and the processes come back healthy",
    "[fault]") {
  TempDir dir;
  HeartbeatWriter fixed(dir / "fixed", "fixed");
  fixed.beat();
  std::vector<std::string> keys = {"a", "b", "c"};
  for (const auto& key : keys) HeartbeatWriter(dir / "hb", key).beat();
  auto config = dir.write("config.json", R"({
    "processes": {"fixed": {"heartbeat_path": "fixed/fixed.json"}},
    "heartbeat_dirs": [{"path": "hb"}]})");
  WrappedExporter exporter({}, config, dir.path());

  Exposition before = scrape_ok(exporter.port());
  CHECK(processes_of(before) == std::set<std::string>{"a", "b", "c", "fixed"});
  CHECK(before.sample("heartbeat_exporter_discovery_errors") == "0");

  fs::remove_all(dir / "hb");
  for (int i = 0; i < 3; ++i) {
    Exposition gap = scrape_ok(exporter.port());
    CHECK(processes_of(gap) == std::set<std::string>{"fixed"});
    CHECK(gap.state("fixed") == "healthy");
    CHECK(gap.sample("heartbeat_exporter_discovery_errors") == "1");
  }

  fs::create_directory(dir / "hb");
  Exposition empty = scrape_ok(exporter.port());
  CHECK(processes_of(empty) == std::set<std::string>{"fixed"});
  CHECK(empty.sample("heartbeat_exporter_discovery_errors") == "0");

  for (const auto& key : keys) HeartbeatWriter(dir / "hb", key).beat();
  Exposition after = scrape_ok(exporter.port());
  CHECK(after.sample("heartbeat_exporter_discovery_errors") == "0");
  for (const auto& key : keys) CHECK(after.state(key) == "healthy");

  auto log = exporter.process().stderr_text();
  INFO(log);
  auto failed = log_lines(log, {"msg=\"discovery failed\""});
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].find("cannot list heartbeat folder \\\"" + (dir / "hb").string() +
                       "\\\": No such file or directory") != std::string::npos);
  CHECK(log_lines(log, {"msg=\"discovery recovered\""}).size() == 1);
}

TEST_CASE(
    "a heartbeat folder deleted and recreated in a loop under writers and 8 scrapers never "
    "fails a scrape nor loses the configured process",
    "[fault]") {
  TempDir dir;
  HeartbeatWriter fixed(dir / "fixed", "fixed");
  fixed.beat();
  auto config = dir.write("config.json", R"({
    "processes": {"fixed": {"heartbeat_path": "fixed/fixed.json"}},
    "heartbeat_dirs": [{"path": "hb"}]})");
  WrappedExporter exporter({}, config, dir.path());

  std::atomic<bool> stop{false};
  Failures failures;
  std::atomic<long> scrapes{0}, gaps_seen{0};
  std::vector<std::thread> scrapers;
  for (int s = 0; s < 8; ++s) {
    scrapers.emplace_back([&, s] {
      while (!stop) {
        Scrape result = scrape(exporter.port(), s % 2 == 0);
        ++scrapes;
        if (!result.exposition) {
          failures.add(result.error);
        } else if (!result.exposition->has_process("fixed")) {
          failures.add("the configured process is missing");
        } else if (result.exposition->sample("heartbeat_exporter_discovery_errors") != "0") {
          ++gaps_seen;
        }
      }
    });
  }
  // The folder comes and goes while a writer beats into it; a beat that finds the folder gone
  // recreates it (the writer creates its folder), which is part of the churn.
  constexpr int kRounds = 100;
  int write_errors = 0;
  for (int round = 0; round < kRounds; ++round) {
    for (const auto& key : {"a", "b", "c"}) {
      try {
        HeartbeatWriter(dir / "hb", key).beat();
      } catch (const std::system_error&) {
        ++write_errors;  // the folder vanished between mkdir and rename
      }
    }
    std::error_code ignored;
    fs::remove_all(dir / "hb", ignored);
  }
  stop = true;
  for (auto& thread : scrapers) thread.join();
  std::printf("fault: folder churn: %d rounds, %ld scrapes, %ld saw the gap, %d beats failed\n",
              kRounds, scrapes.load(), gaps_seen.load(), write_errors);
  INFO(failures.summary());
  CHECK(failures.count() == 0);
  CHECK(scrapes > 0);
  CHECK(exporter.process().running());
}

TEST_CASE(
    "run as nobody: a root-only heartbeat is no_heartbeat/unreadable and counted, an unlistable "
    "folder is a discovery error, and a live root process is healthy",
    "[fault]") {
  if (::geteuid() != 0) {
    // A skipped test must not count as passed: CI runs as root, elsewhere this fails loudly.
    FAIL("needs root: the exporter is started as another user with setpriv");
  }
  TempDir dir;
  if (!reachable_by_others(dir.path())) {
    FAIL("nobody cannot reach " << dir.path() << "; set TMPDIR to a folder under /tmp");
  }
  // mkdtemp makes the folder 0700; nobody must be able to reach the config and the heartbeats.
  fs::permissions(dir.path(), fs::perms(0755));
  for (const auto& key : {"readable", "secret"}) HeartbeatWriter(dir / "hb", key).beat();
  fs::permissions(dir / "hb/secret.json", fs::perms(0600));
  HeartbeatWriter(dir / "closed", "hidden").beat();
  fs::permissions(dir / "closed", fs::perms(0700));
  // This test runs as root, so for nobody kill(pid, 0) fails with EPERM: alive.
  HeartbeatWriter(dir / "own", "root_live").beat();
  auto config = dir.write("config.json", R"({
    "processes": {"root_live": {"heartbeat_path": "own/root_live.json"}},
    "heartbeat_dirs": [{"path": "hb"}, {"path": "closed"}]})");
  fs::permissions(config, fs::perms(0644));

  WrappedExporter exporter({"setpriv", "--reuid=" + std::to_string(kNobody),
                            "--regid=" + std::to_string(kNobody), "--clear-groups"},
                           config, dir.path());
  CHECK(uid_line(exporter.process().pid()) ==
        "Uid:\t" + std::to_string(kNobody) + "\t" + std::to_string(kNobody) + "\t" +
            std::to_string(kNobody) + "\t" + std::to_string(kNobody));

  Exposition first = scrape_ok(exporter.port());
  CHECK(processes_of(first) == std::set<std::string>{"readable", "root_live", "secret"});
  CHECK(first.state("secret") == "no_heartbeat");
  CHECK(first.state("readable") == "healthy");
  CHECK(first.state("root_live") == "healthy");
  CHECK(first.sample(R"(heartbeat_exporter_read_errors_total{reason="unreadable"})") == "1");
  CHECK(first.sample("heartbeat_exporter_discovery_errors") == "1");
  Exposition second = scrape_ok(exporter.port());
  CHECK(second.sample(R"(heartbeat_exporter_read_errors_total{reason="unreadable"})") == "2");
  CHECK(second.state("root_live") == "healthy");

  auto log = exporter.process().stderr_text();
  INFO(log);
  auto secret = log_lines(log, {"process=secret", "to=no_heartbeat", "reason=unreadable"});
  REQUIRE(secret.size() == 1);
  CHECK(secret[0].find((dir / "hb/secret.json").string() + "\\\": Permission denied") !=
        std::string::npos);
  CHECK(log_lines(log, {"msg=\"discovery failed\"", (dir / "closed").string(), "Permission denied"})
            .size() == 1);
  CHECK(log_lines(log, {"process=root_live"}).empty());
}

TEST_CASE(
    "heartbeatctl beat over its file size limit (ulimit -f) exits 1 naming the path, and the "
    "previous heartbeat stays byte for byte and reads as healthy",
    "[fault]") {
  TempDir dir;
  const auto folder = dir / "hb";
  auto first = run(beat_command(folder, "job"));
  REQUIRE(first.exit_code == 0);
  const std::string previous = read_file(folder / "job.json");
  REQUIRE(previous.size() > 10);

  SECTION("with SIGXFSZ ignored the write fails with EFBIG and the temp file is removed") {
    Outcome outcome = run_with_file_size_limit(beat_command(folder, "job"), 10, true);
    CHECK(outcome.exit_code == 1);
    CHECK(outcome.err == "heartbeatctl: writing heartbeat file \"" +
                             (folder / "job.json").string() + "\" (write): File too large\n");
    CHECK(file_names(folder) == std::set<std::string>{"job.json"});
  }
  SECTION("killed by SIGXFSZ mid-write, it leaves a dot temp file that is never a heartbeat") {
    Outcome outcome = run_with_file_size_limit(beat_command(folder, "job"), 10, false);
    CHECK(outcome.signal == SIGXFSZ);
    auto names = file_names(folder);
    CHECK(names.size() == 2);
    CHECK(names.count("job.json") == 1);
    for (const auto& name : names) CHECK((name == "job.json" || name.starts_with(".job.json.")));
  }
  CHECK(read_file(folder / "job.json") == previous);
  auto config = dir.write("config.json", R"({"heartbeat_dirs": [{"path": "hb"}]})");
  WrappedExporter exporter({}, config, dir.path());
  Exposition exposition = scrape_ok(exporter.port());
  CHECK(processes_of(exposition) == std::set<std::string>{"job"});
  CHECK(exposition.state("job") == "healthy");
  CHECK(exposition.sample(R"(heartbeat_iteration_total{process="job"})") == "1");
}

TEST_CASE(
    "heartbeatctl beat on a full disk exits 1 naming the path, the previous heartbeat stays byte "
    "for byte and healthy, no temp file is left, and beating works again once there is room",
    "[fault]") {
  if (::geteuid() != 0) {
    FAIL("needs root: the test mounts a small tmpfs");
  }
  TempDir dir;
  SmallTmpfs disk(dir / "full");
  if (disk.error() != 0) {
    FAIL("mount -t tmpfs -o size=64k failed: " << std::strerror(disk.error()));
  }
  const auto folder = dir / "full";
  REQUIRE(run(beat_command(folder, "job")).exit_code == 0);
  const std::string previous = read_file(folder / "job.json");
  REQUIRE(fill(folder / "filler") == ENOSPC);

  auto outcome = run(beat_command(folder, "job"));
  CHECK(outcome.exit_code == 1);
  CHECK(outcome.err == "heartbeatctl: writing heartbeat file \"" + (folder / "job.json").string() +
                           "\" (write): No space left on device\n");
  CHECK(read_file(folder / "job.json") == previous);
  CHECK(file_names(folder) == std::set<std::string>{"filler", "job.json"});

  auto config = dir.write("config.json", R"({"heartbeat_dirs": [{"path": "full"}]})");
  WrappedExporter exporter({}, config, dir.path());
  Exposition exposition = scrape_ok(exporter.port());
  CHECK(processes_of(exposition) == std::set<std::string>{"job"});
  CHECK(exposition.state("job") == "healthy");
  CHECK(exposition.sample(R"(heartbeat_iteration_total{process="job"})") == "1");

  fs::remove(folder / "filler");
  CHECK(run(beat_command(folder, "job")).exit_code == 0);
  CHECK(scrape_ok(exporter.port()).sample(R"(heartbeat_iteration_total{process="job"})") == "2");
}

TEST_CASE(
    "a config file swapped between two versions (and sometimes a bad one) during SIGHUP and POST "
    "reloads: every scrape shows one whole process set, and the reload metric settles on the "
    "last file",
    "[fault]") {
  TempDir dir;
  for (const auto& key : {"a1", "a2", "a3"}) HeartbeatWriter(dir / "a", key).beat();
  for (const auto& key : {"b1", "b2", "b3", "b4"}) HeartbeatWriter(dir / "b", key).beat();
  const std::string version_a = R"({"processes": {
    "a1": {"heartbeat_path": "a/a1.json"}, "a2": {"heartbeat_path": "a/a2.json"},
    "a3": {"heartbeat_path": "a/a3.json"}}})";
  const std::string version_b = R"({"heartbeat_dirs": [{"path": "b"}]})";
  const std::string invalid = R"({"processes": {"c": {"heartbeat_pth": "c.json"}}})";
  const std::set<std::string> set_a = {"a1", "a2", "a3"}, set_b = {"b1", "b2", "b3", "b4"};
  auto config = dir.write("config.json", version_a);
  // rename() replaces the file whole, as editors and config management tools do.
  auto replace_config = [&](const std::string& content) {
    dir.write(".config.json.tmp", content);
    fs::rename(dir / ".config.json.tmp", config);
  };
  WrappedExporter exporter({}, config, dir.path(), {"--web.enable-lifecycle"});
  const pid_t pid = exporter.process().pid();

  std::atomic<bool> stop{false};
  Failures failures;
  std::atomic<long> scrapes{0}, writes{0}, sighups{0}, posts_ok{0}, posts_refused{0};
  std::string last_written;  // written by the swapper only, read after it has joined
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    for (long i = 0; !stop; ++i) {
      last_written = i % 7 == 6 ? invalid : i % 2 == 0 ? version_a : version_b;
      replace_config(last_written);
      ++writes;
    }
  });
  threads.emplace_back([&] {
    for (long i = 0; !stop; ++i) {
      if (i % 2 == 0) {
        ::kill(pid, SIGHUP);
        ++sighups;
        continue;
      }
      try {
        auto response = http_request(exporter.port(), "POST", "/-/reload");
        if (response.status == 200) {
          ++posts_ok;
        } else if (response.status == 500 &&
                   response.body.find("processes.c.heartbeat_pth: unknown field") !=
                       std::string::npos) {
          ++posts_refused;
        } else {
          failures.add("reload answered " + std::to_string(response.status) + ": " + response.body);
        }
      } catch (const std::exception& e) {
        failures.add(std::string("reload: ") + e.what());
      }
    }
  });
  for (int s = 0; s < 4; ++s) {
    threads.emplace_back([&, s] {
      while (!stop) {
        Scrape result = scrape(exporter.port(), s % 2 == 0);
        ++scrapes;
        if (!result.exposition) {
          failures.add(result.error);
          continue;
        }
        auto keys = processes_of(*result.exposition);
        if (keys != set_a && keys != set_b) {
          std::string shown;
          for (const auto& key : keys) shown += key + " ";
          failures.add("a scrape showed neither set: [" + shown + "]");
        }
        for (const auto& [key, state] : result.exposition->states) {
          if (state != "healthy") failures.add(key + " is " + state);
        }
      }
    });
  }
  std::this_thread::sleep_for(3s);
  stop = true;
  for (auto& thread : threads) thread.join();
  std::printf(
      "fault: config swap: %ld files written, %ld SIGHUPs, %ld POST reloads taken, %ld refused, "
      "%ld scrapes\n",
      writes.load(), sighups.load(), posts_ok.load(), posts_refused.load(), scrapes.load());
  INFO(failures.summary());
  CHECK(failures.count() == 0);
  CHECK(posts_ok > 0);
  CHECK(posts_refused > 0);
  CHECK(scrapes > 0);

  // Settled: a reload of the last file written gives the answer that file deserves.
  auto response = http_request(exporter.port(), "POST", "/-/reload");
  Exposition settled = scrape_ok(exporter.port());
  if (last_written == invalid) {
    CHECK(response.status == 500);
    CHECK(settled.sample("heartbeat_exporter_config_last_reload_successful") == "0");
  } else {
    CHECK(response.status == 200);
    CHECK(settled.sample("heartbeat_exporter_config_last_reload_successful") == "1");
    CHECK(processes_of(settled) == (last_written == version_a ? set_a : set_b));
  }

  // And by SIGHUP, which is asynchronous: wait for the outcome to show.
  auto wait_for = [&](const std::string& reload_successful, const std::set<std::string>& keys) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      Exposition now = scrape_ok(exporter.port());
      if (now.sample("heartbeat_exporter_config_last_reload_successful") == reload_successful &&
          processes_of(now) == keys) {
        return true;
      }
      std::this_thread::sleep_for(20ms);
    }
    return false;
  };
  replace_config(version_b);
  exporter.process().signal(SIGHUP);
  CHECK(wait_for("1", set_b));
  replace_config(invalid);
  exporter.process().signal(SIGHUP);
  CHECK(wait_for("0", set_b));

  // Every reload that started finished with exactly one outcome.
  auto log = exporter.process().stderr_text();
  auto started = count_of(log, "msg=\"reloading configuration\"");
  auto reloaded = count_of(log, "msg=\"configuration reloaded\"");
  auto refused = count_of(log, "msg=\"reloading configuration failed; keeping the previous one\"");
  CHECK(started == reloaded + refused);
  CHECK(count_of(log, "level=error msg=\"request failed\"") == 0);
  exporter.process().signal(SIGTERM);
  CHECK(exporter.process().wait() == 0);
}

// Concurrent scrapes finish in any order: an older scrape must not re-log a gap a newer one
// saw end, and each body must carry its own discovery_errors, not another scrape's.
TEST_CASE(
    "under 16 concurrent scrapes each folder gap is logged once and every scrape's "
    "discovery_errors matches its own process list",
    "[fault]") {
  TempDir dir;
  for (const auto& key : {"a", "b"}) HeartbeatWriter(dir / "hb", key).beat();
  auto config = dir.write("config.json", R"({"heartbeat_dirs": [{"path": "hb"}]})");
  WrappedExporter exporter({}, config, dir.path());
  std::atomic<bool> stop{false};
  // Odd phases are gaps. A scrape asked for after a phase began and answered with that phase's
  // state confirms it: only then does the folder move again, so that no gap (or return) goes
  // unseen however slow the scrapes are (ASan, a loaded machine).
  std::atomic<int> phase{0};
  std::atomic<int> confirmed{0};
  Failures mismatches;
  std::vector<std::thread> scrapers;
  for (int s = 0; s < 16; ++s) {
    scrapers.emplace_back([&] {
      while (!stop) {
        const int asked_in = phase;
        Scrape result = scrape(exporter.port());
        if (!result.exposition) continue;
        const bool listed = result.exposition->has_process("a");
        if (listed == (asked_in % 2 == 0)) {
          int seen = confirmed;
          while (seen < asked_in && !confirmed.compare_exchange_weak(seen, asked_in)) {
          }
        }
        const auto errors = result.exposition->sample("heartbeat_exporter_discovery_errors");
        if (errors != (listed ? "0" : "1")) {
          mismatches.add(std::string(listed ? "listed" : "gap") + " with discovery_errors " +
                         errors.value_or("-"));
        }
      }
    });
  }
  // rename() moves the whole folder at once, so a scrape sees either both files or a gap.
  constexpr int kGaps = 30;
  auto until_confirmed = [&](int wanted) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (confirmed < wanted && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    return confirmed >= wanted;
  };
  bool all_seen = true;
  for (int gap = 0; gap < kGaps && all_seen; ++gap) {
    fs::rename(dir / "hb", dir / "hb_away");
    phase = 2 * gap + 1;
    all_seen = until_confirmed(2 * gap + 1);
    fs::rename(dir / "hb_away", dir / "hb");
    phase = 2 * gap + 2;
    all_seen = all_seen && until_confirmed(2 * gap + 2);
  }
  stop = true;
  for (auto& thread : scrapers) thread.join();
  auto log = exporter.process().stderr_text();
  INFO(mismatches.summary());
  REQUIRE(all_seen);  // else no scrape saw some phase within 20 s: the exporter is stuck
  CHECK(count_of(log, "msg=\"discovery failed\"") == kGaps);
  CHECK(count_of(log, "msg=\"discovery recovered\"") == kGaps);
  CHECK(mismatches.count() == 0);
}
