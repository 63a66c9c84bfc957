// heartbeat_namespace_bench: the steady-state cost of the pid check for heartbeats written in
// other pid namespaces, against the same processes' heartbeats in the exporter's own namespace.
//
//   heartbeat_namespace_bench [--heartbeats N] [--namespaces K] [--others M] [--scrapes S]
//
// Needs root (it creates pid namespaces). It starts N processes spread over K new pid
// namespaces and M more in its own, then writes two folders of N heartbeats for the same N
// processes: "other" as they see themselves (inner pid, pid_namespace, start_ticks) and "own" as
// the exporter sees them (host pid, its own pid_namespace, start_ticks). For each folder it runs
// one warm-up check_all (which fills the caches; for "other" it scans /proc once), then S timed
// ones through the function measured_checks, and prints the median wall time per check. Under
// callgrind, count only the timed ones:
//
//   valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured_checks*' (one line)
//     heartbeat_namespace_bench --only other      (then --only own)
//
// Figures are in tests/bench/README.md.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "check/checker.h"
#include "check/process_table.h"
#include "config/config.h"
#include "heartbeat_exporter/writer.h"
#include "support/temp_dir.h"
#include "util/bounded_file.h"
#include "util/proc_stat.h"

namespace heartbeat_exporter {
namespace {

struct Options {
  int heartbeats = 10000;
  int namespaces = 10;
  int others = 3000;
  int scrapes = 5;
  std::string only;  // "other", "own" or both when empty
};

// A process that pauses until its parent (this benchmark) dies.
void pause_forever() {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  while (true) ::pause();
}

// Starts `count` processes in a new pid namespace: a child that unshares its pid namespace and
// forks the namespace's init, which forks the rest.
void start_namespace(int count) {
  if (::fork() != 0) return;
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::unshare(CLONE_NEWPID) != 0) {
    std::perror("unshare(CLONE_NEWPID)");
    ::_exit(1);
  }
  if (::fork() == 0) {
    for (int i = 1; i < count; ++i) {
      if (::fork() == 0) pause_forever();
    }
    pause_forever();
  }
  pause_forever();
}

struct Process {
  std::int64_t host_pid;
  std::int64_t inner_pid;
  std::uint64_t pid_namespace;
  std::uint64_t start_ticks;
};

// Every process of a pid namespace other than this one, as /proc tells it.
std::vector<Process> processes_in_other_namespaces(std::uint64_t own_namespace) {
  std::vector<Process> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto status = detail::read_bounded_file(entry.path() / "status", 1 << 14);
    const auto nspid = detail::proc_status_nspid(status.content);
    const auto identity = detail::read_process_identity(entry.path());
    if (!nspid || nspid->depth < 2 || !identity.pid_namespace || !identity.start_ticks ||
        *identity.pid_namespace == own_namespace) {
      continue;
    }
    found.push_back(
        {std::stoll(name), nspid->innermost, *identity.pid_namespace, *identity.start_ticks});
  }
  return found;
}

Config folder_config(const std::filesystem::path& dir) {
  HeartbeatDirConfig folder;
  folder.path = dir;
  folder.timeout_seconds = 86400;
  folder.max_files = 1000000;
  Config config;
  config.heartbeat_dirs.push_back(folder);
  return config;
}

[[gnu::noinline]] std::vector<double> measured_checks(const Checker& checker, const Config& config,
                                                      int scrapes, std::size_t expected) {
  std::vector<double> millis;
  for (int i = 0; i < scrapes; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const MonitorReport report = checker.check_all(config);
    millis.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
    if (report.results.size() != expected || !report.all_healthy()) {
      std::fprintf(stderr, "expected %zu healthy processes\n", expected);
      std::exit(1);
    }
  }
  return millis;
}

void run(const char* name, const std::filesystem::path& dir, const Options& options,
         std::size_t expected) {
  const Config config = folder_config(dir);
  SystemClock clock;
  SystemProcessTable processes;
  Checker checker(clock, processes);
  auto warm_start = std::chrono::steady_clock::now();
  if (!checker.check_all(config).all_healthy()) {
    std::fprintf(stderr, "%s: not all healthy on the first check\n", name);
    std::exit(1);
  }
  const double warm =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - warm_start)
          .count();
  auto millis = measured_checks(checker, config, options.scrapes, expected);
  std::sort(millis.begin(), millis.end());
  std::printf("%-6s heartbeats=%zu first_check_ms=%.1f median_check_ms=%.1f scans=%zu\n", name,
              expected, warm, millis[millis.size() / 2], processes.namespace_scans());
}

}  // namespace
}  // namespace heartbeat_exporter

int main(int argc, char** argv) {
  using namespace heartbeat_exporter;
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--heartbeats")
      options.heartbeats = std::stoi(value);
    else if (flag == "--namespaces")
      options.namespaces = std::stoi(value);
    else if (flag == "--others")
      options.others = std::stoi(value);
    else if (flag == "--scrapes")
      options.scrapes = std::stoi(value);
    else if (flag == "--only")
      options.only = value;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  const auto own_namespace = detail::read_pid_namespace("/proc/self");
  if (!own_namespace) {
    std::fprintf(stderr, "cannot read /proc/self/ns/pid\n");
    return 1;
  }
  for (int i = 0; i < options.others; ++i) {
    if (::fork() == 0) pause_forever();
  }
  for (int k = 0; k < options.namespaces; ++k) {
    start_namespace(options.heartbeats / options.namespaces);
  }
  // Until every process has started: its start ticks are read from /proc.
  std::vector<Process> processes;
  for (int tries = 0; tries < 600; ++tries) {
    processes = processes_in_other_namespaces(*own_namespace);
    if (static_cast<int>(processes.size()) >= options.heartbeats) break;
    ::usleep(100000);
  }
  if (static_cast<int>(processes.size()) < options.heartbeats) {
    std::fprintf(stderr, "only %zu processes in other namespaces\n", processes.size());
    return 1;
  }
  processes.resize(static_cast<std::size_t>(options.heartbeats));

  testing::TempDir dir;
  const auto now = SystemClock().now();
  for (std::size_t i = 0; i < processes.size(); ++i) {
    const Process& process = processes[i];
    const std::string key = "worker-" + std::to_string(i);
    HeartbeatData data;
    data.process_key = key;
    data.timestamp = now;
    data.status = "running";
    data.iteration = 1;
    data.start_ticks = process.start_ticks;
    data.pid = process.inner_pid;
    data.pid_namespace = process.pid_namespace;
    write_heartbeat_file(dir / "other", key, data);
    data.pid = process.host_pid;
    data.pid_namespace = *own_namespace;
    write_heartbeat_file(dir / "own", key, data);
  }
  std::printf("processes: %d in %d other pid namespaces, %d more in the exporter's\n",
              options.heartbeats, options.namespaces, options.others);
  if (options.only != "own") run("other", dir / "other", options, processes.size());
  if (options.only != "other") run("own", dir / "own", options, processes.size());
  return 0;
}
