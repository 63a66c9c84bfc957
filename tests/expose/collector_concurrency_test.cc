// Scrapes, landing-page checks and config swaps at the same time, as civetweb's worker threads
// and a reload do. Run under ThreadSanitizer by tests/run.sh (tests named "concurrent").
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "expose/collector.h"
#include "heartbeat_exporter/writer.h"
#include "support/temp_dir.h"

namespace heartbeat_exporter {
namespace {

using namespace std::chrono_literals;

class FixedClock final : public Clock {
 public:
  explicit FixedClock(Timestamp now) : now_(now) {}
  Timestamp now() const override { return now_; }

 private:
  Timestamp now_;
};

class EverythingAlive final : public ProcessTable {
 public:
  ProcessInfo lookup(std::int64_t) const override { return {Liveness::kAlive, std::nullopt}; }
};

std::shared_ptr<const Config> config_of(const testing::TempDir& dir,
                                        const std::vector<std::string>& keys) {
  auto config = std::make_shared<Config>();
  for (const auto& key : keys) {
    ProcessConfig process;
    process.key = key;
    process.heartbeat_path = heartbeat_file_path(dir.path(), key);
    config->processes.push_back(process);
  }
  return config;
}

// The set of processes one scrape reported, from its heartbeat_state family.
std::set<std::string> processes_in(const std::vector<prometheus::MetricFamily>& families) {
  std::set<std::string> keys;
  for (const auto& family : families) {
    if (family.name != "heartbeat_state") continue;
    for (const auto& metric : family.metric) keys.insert(metric.label.front().value);
  }
  return keys;
}

TEST_CASE("concurrent scrapes, checks and config swaps each see one whole config") {
  testing::TempDir dir;
  auto now = std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
  for (const char* key : {"a1", "a2", "b1", "b2", "b3"}) {
    write_heartbeat_file(
        dir.path(), key,
        HeartbeatData{
            .process_key = key, .pid = 1, .timestamp = now, .status = "running", .iteration = 1});
  }
  auto config_a = config_of(dir, {"a1", "a2"});
  auto config_b = config_of(dir, {"b1", "b2", "b3"});
  const std::set<std::string> set_a = {"a1", "a2"};
  const std::set<std::string> set_b = {"b1", "b2", "b3"};
  FixedClock clock(now);
  EverythingAlive processes;
  HeartbeatCollector collector(config_a, clock, processes);

  std::atomic<bool> stop{false};
  std::atomic<int> scrapes{0}, mixed{0}, unhealthy{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      while (!stop) {
        auto seen = processes_in(collector.Collect());
        if (seen != set_a && seen != set_b) ++mixed;
        ++scrapes;
      }
    });
  }
  threads.emplace_back([&] {
    while (!stop) {
      for (const auto& result : collector.check().results) {
        if (result.state != HealthState::kHealthy) ++unhealthy;
      }
    }
  });
  threads.emplace_back([&] {
    for (int swap = 0; !stop; ++swap) collector.set_config(swap % 2 == 0 ? config_b : config_a);
  });
  auto deadline = std::chrono::steady_clock::now() + 2s;
  while (scrapes < 400 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  stop = true;
  for (auto& thread : threads) thread.join();

  CHECK(scrapes > 0);
  CHECK(mixed == 0);
  CHECK(unhealthy == 0);
  // Counters stay consistent: every reason still exists and nothing failed to read.
  for (const auto& family : collector.Collect()) {
    if (family.name != "heartbeat_exporter_read_errors_total") continue;
    CHECK(family.metric.size() == std::size(kAllReadErrors));
    for (const auto& metric : family.metric) CHECK(metric.counter.value == 0);
  }
}

}  // namespace
}  // namespace heartbeat_exporter
