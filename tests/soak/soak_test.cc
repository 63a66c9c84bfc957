// Soak: the built exporter under sustained load from real writers and many concurrent scrapers.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "heartbeat_exporter/timestamp.h"
#include "heartbeat_exporter/writer.h"
#include "soak/load.h"
#include "support/http_client.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

using namespace heartbeat_exporter;
using namespace heartbeat_exporter::testing;
using namespace std::chrono_literals;

namespace {

constexpr int kWriters = 8;
constexpr int kKeysPerWriter = 25;
constexpr int kScrapers = 16;
constexpr auto kWarmUp = 3s;
constexpr auto kLoad = 21s;
constexpr long kMaxGrowthKib = 10 * 1024;

std::string writer_key(int writer, int key) {
  return "w" + std::to_string(writer) + "_k" + std::to_string(key);
}

// Rewrites a file in place (truncate, then write in pieces), as a careless writer would.
void overwrite_in_place(const std::filesystem::path& path, const std::string& content,
                        std::size_t pieces) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  std::size_t step = content.size() / pieces + 1;
  for (std::size_t at = 0; at < content.size(); at += step) {
    auto ignored = ::write(fd, content.data() + at, std::min(step, content.size() - at));
    (void)ignored;
  }
  ::close(fd);
}

std::string random_garbage(std::mt19937& random) {
  static const std::string kPieces[] = {
      "{",         "}", "[",    "]",    "\"pid\":", "1234",  "\xff",   "\"status",
      "running\"", ",", "\x00", "null", "{\"pid\"", "1e999", "\\u0000"};
  std::string out;
  std::uniform_int_distribution<std::size_t> length(0, 300), piece(0, std::size(kPieces) - 1);
  for (std::size_t n = length(random); n > 0; --n) out += kPieces[piece(random)];
  return out;
}

}  // namespace

TEST_CASE(
    "under 20 s of 8 writers and 16 scrapers over 200 heartbeats no scrape fails, no live writer "
    "is called unhealthy and resident memory grows less than 10 MiB",
    "[soak]") {
  TempDir dir;
  const auto folder = dir / "hb";
  std::vector<std::vector<std::unique_ptr<HeartbeatWriter>>> writers(kWriters);
  std::vector<std::string> live_keys;
  for (int w = 0; w < kWriters; ++w) {
    for (int k = 0; k < kKeysPerWriter; ++k) {
      writers[w].push_back(std::make_unique<HeartbeatWriter>(folder, writer_key(w, k)));
      writers[w].back()->beat();
      live_keys.push_back(writer_key(w, k));
    }
  }
  // Chaos writers: garbage and torn rewrites in place, a file that comes and goes, and dot-file
  // churn. Their processes may be in any state, but they must not break a scrape.
  const std::vector<std::string> chaos_keys = {"chaos_garbage", "chaos_torn"};
  for (const auto& key : chaos_keys) dir.write("hb/" + key + ".json", "{}");
  auto config =
      dir.write("config.json", R"({"heartbeat_dirs": [{"path": "hb", "timeout_seconds": 30}]})");

  WrappedExporter exporter({}, config, dir.path());
  const pid_t exporter_pid = exporter.process().pid();

  std::atomic<bool> stop{false};
  Failures writer_failures, scrape_failures, verdict_failures;
  std::atomic<long> beats{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      while (!stop) {
        for (auto& writer : writers[w]) {
          try {
            writer->beat();
            ++beats;
          } catch (const std::exception& e) {
            writer_failures.add(e.what());
          }
        }
      }
    });
  }
  threads.emplace_back([&] {
    std::mt19937 random(1);
    while (!stop) {
      overwrite_in_place(folder / "chaos_garbage.json", random_garbage(random), 3);
      std::this_thread::sleep_for(1ms);
    }
  });
  threads.emplace_back([&] {
    HeartbeatData data{"chaos_torn", ::getpid(), {}, "running", 1};
    while (!stop) {
      data.timestamp =
          std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
      overwrite_in_place(folder / "chaos_torn.json", serialize_heartbeat(data), 4);
      std::this_thread::sleep_for(1ms);
    }
  });
  threads.emplace_back([&] {
    while (!stop) {
      overwrite_in_place(folder / "chaos_blink.json", "{\"pid\": 1}", 1);
      overwrite_in_place(folder / ".noise.json.tmp", "partial", 1);
      std::filesystem::remove(folder / "chaos_blink.json");
      std::filesystem::remove(folder / ".noise.json.tmp");
      std::this_thread::sleep_for(1ms);
    }
  });

  std::mutex latencies_mutex;
  std::vector<double> latencies;
  std::atomic<long> scrapes{0};
  for (int s = 0; s < kScrapers; ++s) {
    threads.emplace_back([&, s] {
      std::vector<double> mine;
      while (!stop) {
        Scrape result = scrape(exporter.port(), s % 2 == 1);
        mine.push_back(result.latency.count());
        long number = ++scrapes;
        if (!result.exposition) {
          scrape_failures.add("scrape " + std::to_string(number) + ": " + result.error);
          continue;
        }
        const Exposition& exposition = *result.exposition;
        for (const auto& key : live_keys) {
          auto state = exposition.states.find(key);
          if (state == exposition.states.end()) {
            scrape_failures.add("scrape " + std::to_string(number) + ": " + key + " is missing");
          } else if (state->second != "healthy") {
            verdict_failures.add("scrape " + std::to_string(number) + ": " + key + " is " +
                                 state->second);
          }
        }
        for (const auto& key : chaos_keys) {
          if (!exposition.has_process(key)) {
            scrape_failures.add("scrape " + std::to_string(number) + ": " + key + " is missing");
          }
        }
        for (const auto& [key, state] : exposition.states) {
          if (key.find("noise") != std::string::npos) {
            scrape_failures.add("scrape " + std::to_string(number) + ": temp file taken as " + key);
          }
        }
      }
      std::lock_guard lock(latencies_mutex);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }

  const auto started = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(kWarmUp);
  const long rss_start = resident_kib(exporter_pid);
  const long scrapes_at_warm_up = scrapes;
  std::this_thread::sleep_for(kLoad - kWarmUp);
  const long rss_end = resident_kib(exporter_pid);
  const double exporter_cpu = cpu_seconds(exporter_pid);
  stop = true;
  for (auto& thread : threads) thread.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::printf(
      "soak: %.1f s, %d writers x %d heartbeats + %zu chaos, %d scrapers\n"
      "soak: scrapes %ld (%.0f/s), failed %zu; latency p50 %.1f ms, p99 %.1f ms, max %.1f ms\n"
      "soak: beats written %ld (%.0f/s); non-healthy verdicts for live writers %zu\n"
      "soak: exporter VmRSS %ld KiB after %ld warm-up scrapes, %ld KiB at the end (%+ld KiB); "
      "CPU %.1f s (%.2f ms per scrape)\n",
      seconds, kWriters, kKeysPerWriter, chaos_keys.size() + 1, kScrapers, scrapes.load(),
      static_cast<double>(scrapes) / seconds, scrape_failures.count(),
      percentile(latencies, 0.5) * 1e3, percentile(latencies, 0.99) * 1e3,
      percentile(latencies, 1.0) * 1e3, beats.load(), static_cast<double>(beats) / seconds,
      verdict_failures.count(), rss_start, scrapes_at_warm_up, rss_end, rss_end - rss_start,
      exporter_cpu, exporter_cpu * 1e3 / static_cast<double>(scrapes));
  std::fflush(stdout);

  INFO("scrape failures:\n" << scrape_failures.summary());
  INFO("verdict failures:\n" << verdict_failures.summary());
  INFO("writer failures:\n" << writer_failures.summary());
  CHECK(scrape_failures.count() == 0);
  CHECK(verdict_failures.count() == 0);
  CHECK(writer_failures.count() == 0);
  // Not a benchmark (the machine may be shared), only proof that the scrapers kept going.
  CHECK(scrapes >= kScrapers * 10);
  REQUIRE(rss_start > 0);
  CHECK(rss_end - rss_start < kMaxGrowthKib);

  // Still answering, still right, and a clean exit.
  CHECK(http_get(exporter.port(), "/-/healthy").status == 200);
  Scrape after = scrape(exporter.port());
  INFO(after.error);
  REQUIRE(after.exposition);
  for (const auto& key : live_keys) CHECK(after.exposition->state(key) == "healthy");
  auto log = exporter.process().stderr_text();
  INFO(log.substr(0, 4000));
  CHECK(log.find("level=error") == std::string::npos);
  exporter.process().signal(SIGTERM);
  CHECK(exporter.process().wait() == 0);
}

TEST_CASE("the scrape check rejects torn, garbled and self-contradicting expositions", "[soak]") {
  const std::string states =
      "heartbeat_state{process=\"p\",state=\"healthy\"} 1\n"
      "heartbeat_state{process=\"p\",state=\"timed_out\"} 0\n"
      "heartbeat_state{process=\"p\",state=\"no_heartbeat\"} 0\n"
      "heartbeat_state{process=\"p\",state=\"stale_pid\"} 0\n"
      "heartbeat_state{process=\"p\",state=\"error_status\"} 0\n";
  auto good = parse_exposition("# HELP x y\n# TYPE x gauge\n" + states + "x 1.5e+09\n");
  INFO(good.error);
  REQUIRE(good.exposition);
  CHECK(good.exposition->state("p") == "healthy");
  CHECK(good.exposition->state("q") == "(missing)");
  CHECK(good.exposition->sample("x") == "1.5e+09");

  CHECK_FALSE(parse_exposition(states.substr(0, states.size() - 10)).exposition);  // torn
  CHECK_FALSE(parse_exposition(states + "x 1 1700000000\n").exposition);           // a timestamp
  CHECK_FALSE(parse_exposition(states + "x{a=\"1} 1\n").exposition);
  CHECK_FALSE(parse_exposition(states + "x garbage\n").exposition);
  CHECK_FALSE(parse_exposition(states + states).exposition);  // every series twice
  CHECK_FALSE(parse_exposition(states.substr(states.find('\n') + 1)).exposition);  // no state at 1
  CHECK_FALSE(
      parse_exposition(states + "heartbeat_state{process=\"p\",state=\"healthy\",x=\"2\"} 1\n")
          .exposition);  // a second state at 1
  CHECK(parse_exposition(states + "x{a=\"q\\\"\\\\\\n\"} +Inf\n").exposition);
}
