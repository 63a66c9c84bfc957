// Scrapes, landing-page checks and config swaps at the same time, as civetweb's worker threads
// and a reload do. Run under ThreadSanitizer by tests/run.sh (tests named "concurrent").
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "heartbeat_exporter/writer.h"
#include "metrics/collector.h"
#include "metrics/serializer_oracle.h"
#include "support/exposition_parser.h"
#include "support/fakes.h"
#include "support/http_client.h"
#include "support/temp_dir.h"

namespace heartbeat_exporter {
namespace {

using namespace std::chrono_literals;

using testing::everything_alive;
using testing::FakeClock;

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

void write_healthy_heartbeats(const testing::TempDir& dir, Timestamp now,
                              const std::vector<std::string>& keys) {
  for (const auto& key : keys) {
    write_heartbeat_file(
        dir.path(), key,
        HeartbeatData{
            .process_key = key, .pid = 1, .timestamp = now, .status = "running", .iteration = 1});
  }
}

// Adds a thread that swaps the two configs back and forth, lets every thread run until `wanted`
// scrapes were counted (or 2 s passed), then stops and joins them all.
void swap_configs_until_done(HeartbeatCollector& collector,
                             const std::shared_ptr<const Config>& config_a,
                             const std::shared_ptr<const Config>& config_b,
                             std::vector<std::thread>& threads, const std::atomic<int>& scrapes,
                             int wanted, std::atomic<bool>& stop) {
  threads.emplace_back([&] {
    for (int swap = 0; !stop; ++swap) collector.set_config(swap % 2 == 0 ? config_b : config_a);
  });
  auto deadline = std::chrono::steady_clock::now() + 2s;
  while (scrapes < wanted && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  stop = true;
  for (auto& thread : threads) thread.join();
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

TEST_CASE("concurrent scrapes, checks and config swaps each see one whole config", "[threads]") {
  testing::TempDir dir;
  auto now = std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
  write_healthy_heartbeats(dir, now, {"a1", "a2", "b1", "b2", "b3"});
  auto config_a = config_of(dir, {"a1", "a2"});
  auto config_b = config_of(dir, {"b1", "b2", "b3"});
  const std::set<std::string> set_a = {"a1", "a2"};
  const std::set<std::string> set_b = {"b1", "b2", "b3"};
  FakeClock clock(now);
  const auto processes = everything_alive();
  HeartbeatCollector collector(config_a, clock, processes);

  std::atomic<bool> stop{false};
  std::atomic<int> scrapes{0}, mixed{0}, unhealthy{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      while (!stop) {
        auto seen = processes_in(testing::parse_exposition(collector.expose()->text().joined()));
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
  swap_configs_until_done(collector, config_a, config_b, threads, scrapes, 400, stop);

  CHECK(scrapes > 0);
  CHECK(mixed == 0);
  CHECK(unhealthy == 0);
  // Counters stay consistent: every reason still exists and nothing failed to read.
  for (const auto& family : testing::parse_exposition(collector.expose()->text().joined())) {
    if (family.name != "heartbeat_exporter_read_errors_total") continue;
    CHECK(family.metric.size() == std::size(kAllReadErrors));
    for (const auto& metric : family.metric) CHECK(metric.counter.value == 0);
  }
}

TEST_CASE("expose serves the rendered check, then the exporter's own metrics, gzipped or not") {
  testing::TempDir dir;
  auto now = std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
  write_heartbeat_file(
      dir.path(), "a1",
      HeartbeatData{
          .process_key = "a1", .pid = 1, .timestamp = now, .status = "running", .iteration = 1});
  write_heartbeat_file(
      dir.path(), "a2",
      HeartbeatData{
          .process_key = "a2", .pid = 1, .timestamp = now, .status = "failed", .iteration = 9});
  dir.write("broken.json", "{\"pid\": ");
  auto config = config_of(dir, {"a1", "a2", "broken", "missing"});
  FakeClock clock(now + 1500ms);
  const auto processes = everything_alive();
  HeartbeatCollector collector(config, clock, processes);
  auto exposition = collector.expose();
  const std::string exposed = exposition->text().joined();
  // The clock stands still, so a second check decides exactly what the scrape decided.
  const std::string per_process = testing::oracle_text(collector.check());
  REQUIRE(exposed.size() > per_process.size());
  CHECK(exposed.substr(0, per_process.size()) == per_process);
  CHECK(exposed.substr(per_process.size())
            .starts_with("# HELP heartbeat_exporter_read_errors_total "));
  CHECK(exposed.find("heartbeat_exporter_read_errors_total{reason=\"missing\"} 1") !=
        std::string::npos);
  CHECK(exposed.find("heartbeat_exporter_read_errors_total{reason=\"invalid_json\"} 1") !=
        std::string::npos);
  REQUIRE(exposition->gzipped());
  CHECK(testing::gunzip(*exposition->gzipped()) == exposed);
}

// Holds every lookup_all until released, so that a test can have a collection in flight.
class GatedProcessTable final : public ProcessTable {
 public:
  ProcessInfo lookup(std::int64_t) const override { return {Liveness::kAlive, std::nullopt}; }
  std::vector<ProcessInfo> lookup_all(std::span<const std::int64_t> pids) const override {
    std::unique_lock lock(mutex_);
    ++entered_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return released_; });
    return std::vector<ProcessInfo>(pids.size(), ProcessInfo{Liveness::kAlive, std::nullopt});
  }
  void wait_until_entered(int times) const {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return entered_ >= times; });
  }
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }
  int entered() const {
    std::lock_guard lock(mutex_);
    return entered_;
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  mutable int entered_ = 0;
  bool released_ = false;
};

TEST_CASE("concurrent expose calls while a collection is in flight share that one collection",
          "[threads]") {
  testing::TempDir dir;
  auto now = std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
  write_heartbeat_file(
      dir.path(), "a1",
      HeartbeatData{
          .process_key = "a1", .pid = 1, .timestamp = now, .status = "running", .iteration = 1});
  FakeClock clock(now);
  GatedProcessTable processes;
  HeartbeatCollector collector(config_of(dir, {"a1"}), clock, processes);

  std::shared_ptr<const Exposition> first, second, third;
  std::thread starter([&] { first = collector.expose(); });
  processes.wait_until_entered(1);
  std::thread joiner([&] { second = collector.expose(); });
  std::thread another([&] { third = collector.expose(); });
  // The two late callers are counted as sharing before they wait; only then is the gate opened.
  while (collector.shared_collections() < 2) std::this_thread::yield();
  processes.release();
  starter.join();
  joiner.join();
  another.join();

  CHECK(processes.entered() == 1);
  REQUIRE(first != nullptr);
  CHECK(second == first);
  CHECK(third == first);
  // A call after the shared collection finished makes a new one.
  auto later = collector.expose();
  CHECK(later != first);
  CHECK(processes.entered() == 2);
  CHECK(collector.shared_collections() == 2);
}

TEST_CASE("concurrent expose calls and config swaps: every exposition is whole and gzips exactly",
          "[threads]") {
  testing::TempDir dir;
  auto now = std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
  write_healthy_heartbeats(dir, now, {"a1", "a2", "b1", "b2", "b3"});
  auto config_a = config_of(dir, {"a1", "a2"});
  auto config_b = config_of(dir, {"b1", "b2", "b3"});
  FakeClock clock(now);
  const auto processes = everything_alive();
  HeartbeatCollector collector(config_a, clock, processes,
                               CheckerOptions{.threads = 2, .reuse_unchanged_files = true});
  std::atomic<bool> stop{false};
  std::atomic<int> scrapes{0}, broken{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      while (!stop) {
        auto exposition = collector.expose();
        const std::string text = exposition->text().joined();
        const auto& gzipped = exposition->gzipped();
        const bool a = text.find("process=\"a1\"") != std::string::npos;
        const bool b = text.find("process=\"b1\"") != std::string::npos;
        if (a == b || !gzipped || testing::gunzip(*gzipped) != text) ++broken;
        ++scrapes;
      }
    });
  }
  swap_configs_until_done(collector, config_a, config_b, threads, scrapes, 200, stop);
  CHECK(scrapes > 0);
  CHECK(broken == 0);
}

}  // namespace
}  // namespace heartbeat_exporter
