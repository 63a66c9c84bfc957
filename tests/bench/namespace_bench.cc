// heartbeat_namespace_bench: the steady-state cost of the pid check for heartbeats written in
// other pid namespaces, against the same processes' heartbeats in the exporter's own namespace.
//
//   heartbeat_namespace_bench [--heartbeats N] [--namespaces K] [--others M] [--scrapes S]
//
// Needs root (it creates pid namespaces). It starts N processes (sleep) spread over K new pid
// namespaces and M more in its own, then writes two folders of N heartbeats for the same N
// processes: "other" as they see themselves (inner pid, pid_namespace, start_ticks) and "own" as
// the exporter sees them (host pid, its own pid_namespace, start_ticks). For each folder it runs
// one warm-up check_all (which fills the caches; for "other" it scans /proc once), then S timed
// ones taking turns, and prints the median wall and CPU time per check (CPU time, the
// process's, is steadier on a shared machine). Not under valgrind: 3.19 does not know
// pidfd_open, so the caches would never fill and every check would take the uncached path.
//
// Figures are in tests/bench/README.md.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
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

// Runs argv in a child that is killed when this benchmark ends. The processes are exec'd
// programs, not forks of this one, so that under valgrind they run natively.
void spawn(std::vector<const char*> argv) {
  if (::fork() != 0) return;
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  argv.push_back(nullptr);
  ::execv(argv[0], const_cast<char* const*>(argv.data()));
  std::perror(argv[0]);
  ::_exit(1);
}

// `count` sleeping processes in a new pid namespace, whose init (a shell that became `sleep`)
// takes them all along when unshare is killed.
void start_namespace(int count) {
  const std::string script = "i=1; while [ $i -lt " + std::to_string(count) +
                             " ]; do sleep 100000 & i=$((i+1)); done; exec sleep 100000";
  spawn({"/usr/bin/unshare", "--pid", "--fork", "--kill-child", "/bin/sh", "-c", script.c_str()});
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

double process_cpu_ms() {
  timespec cpu{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
  return static_cast<double>(cpu.tv_sec) * 1e3 + static_cast<double>(cpu.tv_nsec) / 1e6;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// One folder's exporter side: its own process table (and caches) and checker.
struct Setup {
  std::string name;
  Config config;
  SystemClock clock;
  SystemProcessTable processes;
  Checker checker{clock, processes};
  std::vector<double> wall_ms, cpu_ms;

  Setup(std::string setup_name, const std::filesystem::path& dir)
      : name(std::move(setup_name)), config(folder_config(dir)) {}

  // One check, timed; every process must be healthy, or the figures would be of another path.
  double check(std::size_t expected) {
    const auto wall_start = std::chrono::steady_clock::now();
    const double cpu_start = process_cpu_ms();
    const MonitorReport report = checker.check_all(config);
    const double cpu = process_cpu_ms() - cpu_start;
    wall_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall_start)
            .count());
    cpu_ms.push_back(cpu);
    for (const auto& result : report.results) {
      if (result.state != HealthState::kHealthy) {
        std::fprintf(stderr, "%s: %s is not healthy: %s\n", name.c_str(),
                     result.process.key.c_str(), result.detail.c_str());
        std::exit(1);
      }
    }
    if (report.results.size() != expected) {
      std::fprintf(stderr, "%s: %zu results, expected %zu\n", name.c_str(), report.results.size(),
                   expected);
      std::exit(1);
    }
    return wall_ms.back();
  }
};

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
  // Two process tables keep a pidfd per process each: room for both, and for reading files.
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &files);
  const auto own_namespace = detail::read_pid_namespace("/proc/self");
  if (!own_namespace) {
    std::fprintf(stderr, "cannot read /proc/self/ns/pid\n");
    return 1;
  }
  for (int i = 0; i < options.others; ++i) spawn({"/bin/sleep", "100000"});
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
  const auto needed = static_cast<rlim_t>(2 * options.heartbeats + 4096);
  if (options.only.empty() && files.rlim_cur < needed) {
    std::fprintf(stderr,
                 "two process tables of %d pidfds need %llu file descriptors, the limit is %llu: "
                 "run --only other and --only own one after the other\n",
                 options.heartbeats, static_cast<unsigned long long>(needed),
                 static_cast<unsigned long long>(files.rlim_cur));
    return 2;
  }
  std::vector<std::unique_ptr<Setup>> setups;
  if (options.only != "own") setups.push_back(std::make_unique<Setup>("other", dir / "other"));
  if (options.only != "other") setups.push_back(std::make_unique<Setup>("own", dir / "own"));
  std::vector<double> first_ms;
  for (auto& setup : setups) {
    first_ms.push_back(setup->check(processes.size()));
    setup->wall_ms.clear();
    setup->cpu_ms.clear();
  }
  // Taken in turns, so that load from elsewhere on the machine falls on both alike.
  for (int round = 0; round < options.scrapes; ++round) {
    for (auto& setup : setups) setup->check(processes.size());
  }
  for (std::size_t i = 0; i < setups.size(); ++i) {
    const Setup& setup = *setups[i];
    std::printf("%-6s first_check_ms=%.1f median_wall_ms=%.1f median_cpu_ms=%.1f scans=%zu\n",
                setup.name.c_str(), first_ms[i], median(setup.wall_ms), median(setup.cpu_ms),
                setup.processes.namespace_scans());
  }
  if (setups.size() == 2) {
    std::printf("other/own: wall %.3f, cpu %.3f\n",
                median(setups[0]->wall_ms) / median(setups[1]->wall_ms),
                median(setups[0]->cpu_ms) / median(setups[1]->cpu_ms));
  }
  return 0;
}
