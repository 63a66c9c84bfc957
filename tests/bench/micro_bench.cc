// heartbeat_micro_bench: the in-process costs of one scrape, stage by stage, with Google Benchmark.
//
//   BM_ParseHeartbeat          parse_heartbeat() on a typical heartbeat already in memory
//   BM_ReadHeartbeat           read_heartbeat() of one file in the page cache
//   BM_CheckAllProcesses/N     check_all_processes() over a folder of N heartbeat files (1000,
//                              10000), with the system clock and process table: discover, read,
//                              check, as a scrape does before anything is serialised
//
// It calls only the stages' entry points (parse_heartbeat, read_heartbeat, check_all_processes),
// so the figures stay comparable before and after changes inside them. Run a Release build, e.g.:
//
//   heartbeat_micro_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "check/checker.h"
#include "check/process_table.h"
#include "config/config.h"
#include "heartbeat_exporter/reader.h"
#include "heartbeat_exporter/writer.h"
#include "support/temp_dir.h"

namespace heartbeat_exporter {
namespace {

using testing::TempDir;

// Far longer than any benchmark run, so that every process stays healthy throughout.
constexpr double kTimeoutSeconds = 86400;

std::string process_key(std::int64_t index) {
  char key[32];
  std::snprintf(key, sizeof(key), "worker-%06lld", static_cast<long long>(index));
  return key;
}

// What HeartbeatWriter writes for a process that is alive: this one.
std::string typical_heartbeat(std::int64_t index) {
  HeartbeatData data;
  data.process_key = process_key(index);
  data.pid = ::getpid();
  data.timestamp = SystemClock().now();
  data.status = "running";
  data.iteration = static_cast<std::uint64_t>(index) + 41;
  return serialize_heartbeat(data);
}

void BM_ParseHeartbeat(benchmark::State& state) {
  const std::string json = typical_heartbeat(1);
  for (auto _ : state) {
    ReadResult result = parse_heartbeat(json);
    benchmark::DoNotOptimize(result);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(json.size()));
}
BENCHMARK(BM_ParseHeartbeat);

void BM_ReadHeartbeat(benchmark::State& state) {
  TempDir dir;
  auto path = dir.write("worker-000001.json", typical_heartbeat(1));
  for (auto _ : state) {
    ReadResult result = read_heartbeat(path);
    if (!result.ok()) {
      state.SkipWithError(("reading " + path.string() + ": " + result.failure->message).c_str());
      break;
    }
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_ReadHeartbeat);

void BM_CheckAllProcesses(benchmark::State& state) {
  const std::int64_t count = state.range(0);
  TempDir dir;
  for (std::int64_t index = 1; index <= count; ++index) {
    dir.write(process_key(index) + ".json", typical_heartbeat(index));
  }
  HeartbeatDirConfig heartbeat_dir;
  heartbeat_dir.path = dir.path();
  heartbeat_dir.timeout_seconds = kTimeoutSeconds;
  Config config;
  config.heartbeat_dirs.push_back(heartbeat_dir);
  SystemClock clock;
  SystemProcessTable processes;

  for (auto _ : state) {
    MonitorReport report = check_all_processes(config, clock, processes);
    // A benchmark of failures would measure the wrong path, so it stops instead.
    if (static_cast<std::int64_t>(report.results.size()) != count || !report.all_healthy()) {
      state.SkipWithError(("checking " + dir.path().string() + ": expected " +
                           std::to_string(count) + " healthy processes")
                              .c_str());
      break;
    }
    benchmark::DoNotOptimize(report);
  }
  state.SetItemsProcessed(state.iterations() * count);
}
BENCHMARK(BM_CheckAllProcesses)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace heartbeat_exporter

BENCHMARK_MAIN();
