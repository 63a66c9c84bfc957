// Memory: the built exporter scraped thousands of times over hostile heartbeat files.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "heartbeat_exporter/reader.h"
#include "heartbeat_exporter/timestamp.h"
#include "heartbeat_exporter/writer.h"
#include "soak/load.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

using namespace heartbeat_exporter;
using namespace heartbeat_exporter::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr int kScrapers = 4;
// Valgrind runs the exporter some 30 times slower; this many keeps the test near 15 s.
constexpr long kValgrindScrapes = 100;

std::string fresh_heartbeat(const std::string& status = "running") {
  HeartbeatData data{
      "x", ::getpid(),
      std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now()), status, 1};
  return serialize_heartbeat(data);
}

// Every kind of hostile heartbeat the README rules out, in one folder, plus configured processes
// pointing at odd places. `good` is written by a real HeartbeatWriter that keeps beating, and
// `torn` is rewritten in place without a rename, so reads race with writes.
struct HostileFixture {
  TempDir dir;
  fs::path config;
  // Processes whose state is certain; `torn` may be either, and the rest are no_heartbeat.
  std::vector<std::string> no_heartbeat;

  HostileFixture() {
    const auto hb = dir / "hb";
    fs::create_directories(hb);
    REQUIRE(::mkfifo((hb / "fifo.json").c_str(), 0644) == 0);
    fs::create_symlink("/dev/zero", hb / "zero.json");
    fs::create_symlink("/proc/self/mem", hb / "procmem.json");
    fs::create_symlink("nowhere.json.target", hb / "dangling.json");
    fs::create_symlink("loop_b.json", hb / "loop_a.json");
    fs::create_symlink("loop_a.json", hb / "loop_b.json");
    fs::create_directory(hb / "folder.json");
    dir.write("hb/huge.json", std::string(10 * 1024 * 1024, '['));
    dir.write("hb/just_too_large.json", std::string(kMaxHeartbeatBytes + 1, ' '));
    // Nesting as deep as fits in the size limit, arrays and objects.
    dir.write("hb/deep_array.json", std::string(32000, '[') + std::string(32000, ']'));
    std::string object;
    for (int i = 0; i < 10000; ++i) object += "{\"a\":";
    dir.write("hb/deep_object.json", object + "1" + std::string(10000, '}'));
    dir.write("hb/types.json", R"({"pid": "12", "timestamp": 5, "status": null})");
    dir.write("hb/duplicate.json",
              R"({"pid": 1, "pid": 2, "timestamp": "2026-01-01T00:00:00", "status": "running"})");
    dir.write("hb/binary.json", std::string("\xff\xfe\x00\x01garbage", 11));
    dir.write("hb/bad_utf8_status.json",
              R"({"pid": 1, "timestamp": "2026-01-01T00:00:00", "status": "run)"
              "\xc3\x28"
              R"("})");
    dir.write("hb/nul.json", std::string("{\"pid\": 1\0, \"status\": \"running\"}", 33));
    dir.write("hb/empty.json", "");
    dir.write("hb/array.json", "[1, 2, 3]");
    dir.write("hb/bad_timestamp.json",
              R"({"pid": 1, "timestamp": "2026-02-30T00:00:00", "status": "running"})");
    dir.write("hb/pid_zero.json",
              R"({"pid": 0, "timestamp": "2026-01-01T00:00:00", "status": "running"})");
    dir.write("hb/future.json",
              R"({"pid": 1, "timestamp": "9999-12-31T23:59:59", "status": "running"})");
    dir.write("hb/bad\xff name.json", fresh_heartbeat());
    dir.write("hb/torn.json", fresh_heartbeat());
    no_heartbeat = {"fifo",        "zero",    "procmem",   "dangling",       "loop_a",
                    "loop_b",      "folder",  "huge",      "just_too_large", "deep_array",
                    "deep_object", "types",   "duplicate", "binary",         "bad_utf8_status",
                    "nul",         "empty",   "array",     "bad_timestamp",  "pid_zero",
                    "future",      "missing", "is_folder", "proc_status"};
    config = dir.write("config.json", R"({
      "processes": {
        "missing": {"heartbeat_path": "nowhere/missing.json"},
        "is_folder": {"heartbeat_path": "hb"},
        "proc_status": {"heartbeat_path": "/proc/self/status"}
      },
      "heartbeat_dirs": [{"path": "hb", "timeout_seconds": 30}]
    })");
  }
};

// Keeps `good` beating through the real writer and rewrites `torn` in place, until destroyed.
class Churn {
 public:
  explicit Churn(const fs::path& hb)
      : thread_([this, hb] {
          HeartbeatWriter good(hb, "good");
          while (!stop_) {
            good.beat();
            const std::string content = fresh_heartbeat();
            const int fd = ::open((hb / "torn.json").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
            if (fd >= 0) {
              auto half = content.size() / 2;
              auto ignored = ::write(fd, content.data(), half);
              ignored = ::write(fd, content.data() + half, content.size() - half);
              (void)ignored;
              ::close(fd);
            }
            std::this_thread::sleep_for(2ms);
          }
        }) {}
  ~Churn() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Checks what every scrape of the hostile fixture must show; returns the first problem.
std::string problem_with(const Scrape& result, const HostileFixture& fixture) {
  if (!result.exposition) return result.error;
  const Exposition& exposition = *result.exposition;
  for (const auto& key : fixture.no_heartbeat) {
    auto state = exposition.states.find(key);
    if (state == exposition.states.end()) return key + " is missing";
    if (state->second != "no_heartbeat") return key + " is " + state->second;
  }
  auto good = exposition.states.find("good");
  if (good == exposition.states.end() || good->second != "healthy") return "good is not healthy";
  if (!exposition.has_process("torn")) return "torn is missing";
  // The non-UTF-8 file name is skipped and counted; folder.json and the two symlinks to
  // devices are files whose read fails, not discovery errors.
  if (exposition.sample("heartbeat_exporter_discovery_errors") != "1") {
    return "discovery_errors is not 1";
  }
  return "";
}

// Runs `count` scrapes from kScrapers threads; calls `at(n)` from the thread that completes
// scrape n for each n in `marks`.
template <typename OnMark>
void scrape_many(int port, const HostileFixture& fixture, long count, std::vector<long> marks,
                 Failures& failures, OnMark at) {
  std::atomic<long> done{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < kScrapers; ++s) {
    threads.emplace_back([&, s] {
      while (done < count) {
        Scrape result = scrape(port, s % 2 == 1);
        if (auto problem = problem_with(result, fixture); !problem.empty()) failures.add(problem);
        long number = ++done;
        for (long mark : marks) {
          if (number == mark) at(mark);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
}

}  // namespace

TEST_CASE(
    "10,000 scrapes of hostile heartbeat files all succeed and grow the exporter's resident "
    "memory by less than 2 MiB after the first 1,000",
    "[memory]") {
  HostileFixture fixture;
  Churn churn(fixture.dir / "hb");
  WrappedExporter exporter({}, fixture.config, fixture.dir.path());
  const pid_t pid = exporter.process().pid();

  Failures failures;
  long rss_at_1000 = 0, rss_at_10000 = 0;
  const auto started = std::chrono::steady_clock::now();
  scrape_many(exporter.port(), fixture, 10000, {1000, 10000}, failures,
              [&](long mark) { (mark == 1000 ? rss_at_1000 : rss_at_10000) = resident_kib(pid); });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const double exporter_cpu = cpu_seconds(pid);
  Exposition last = scrape(exporter.port()).exposition.value_or(Exposition{});
  std::printf(
      "memory: %zu hostile files, 10000 scrapes in %.1f s (%.0f/s), %zu failed; exporter CPU "
      "%.2f ms per scrape\n"
      "memory: exporter VmRSS %ld KiB after 1000 scrapes, %ld KiB after 10000 (%+ld KiB)\n"
      "memory: read errors: not_regular_file %s, symlink %s, too_large %s, unreadable %s, "
      "invalid_json %s\n",
      fixture.no_heartbeat.size(), seconds, 10000 / seconds, failures.count(),
      exporter_cpu * 1e3 / 10000, rss_at_1000, rss_at_10000, rss_at_10000 - rss_at_1000,
      last.sample(R"(heartbeat_exporter_read_errors_total{reason="not_regular_file"})")
          .value_or("-")
          .c_str(),
      last.sample(R"(heartbeat_exporter_read_errors_total{reason="symlink"})")
          .value_or("-")
          .c_str(),
      last.sample(R"(heartbeat_exporter_read_errors_total{reason="too_large"})")
          .value_or("-")
          .c_str(),
      last.sample(R"(heartbeat_exporter_read_errors_total{reason="unreadable"})")
          .value_or("-")
          .c_str(),
      last.sample(R"(heartbeat_exporter_read_errors_total{reason="invalid_json"})")
          .value_or("-")
          .c_str());
  std::fflush(stdout);

  INFO(failures.summary());
  CHECK(failures.count() == 0);
  REQUIRE(rss_at_1000 > 0);
  CHECK(rss_at_10000 - rss_at_1000 < 2 * 1024);
  exporter.process().signal(SIGTERM);
  CHECK(exporter.process().wait() == 0);
}

TEST_CASE(
    "under valgrind 100 scrapes of hostile heartbeat files and a SIGTERM leave no memory "
    "definitely lost and no memory errors",
    "[memory]") {
  if (run({"sh", "-c", "command -v valgrind"}).exit_code != 0) {
    FAIL("valgrind is not installed (Debian package valgrind)");
  }
  HostileFixture fixture;
  Churn churn(fixture.dir / "hb");
  const auto report = fixture.dir / "valgrind.log";
  // 16 web workers: valgrind runs one thread at a time and stops at 500 threads, and the leak
  // check needs no more than the scrapers use.
  WrappedExporter exporter(
      {"valgrind", "--leak-check=full", "--error-exitcode=99", "--log-file=" + report.string()},
      fixture.config, fixture.dir.path(), {"--web.max-connections=16"}, 60s);
  Failures failures;
  const auto started = std::chrono::steady_clock::now();
  scrape_many(exporter.port(), fixture, kValgrindScrapes, {}, failures, [](long) {});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  exporter.process().signal(SIGTERM);
  auto exit_code = exporter.process().wait(60s);

  const std::string log = [&] {
    std::ifstream in(report);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }();
  std::smatch lost;
  const bool has_summary =
      std::regex_search(log, lost, std::regex(R"(definitely lost: ([0-9,]+) bytes)"));
  const std::string lost_text = has_summary ? lost[1].str() + " bytes"
                                : log.find("All heap blocks were freed") != std::string::npos
                                    ? "0 (all heap blocks were freed)"
                                    : "no leak summary";
  std::printf("memory: valgrind: %ld scrapes in %.1f s, exit %d, definitely lost: %s\n",
              kValgrindScrapes, seconds, exit_code.value_or(-2), lost_text.c_str());
  std::fflush(stdout);
  INFO(failures.summary());
  INFO(log.substr(log.size() > 6000 ? log.size() - 6000 : 0));
  CHECK(failures.count() == 0);
  // 99 would be valgrind's own verdict: a memory error or a leak.
  CHECK(exit_code == 0);
  CHECK(log.find("ERROR SUMMARY: 0 errors") != std::string::npos);
  if (has_summary) {
    CHECK(lost[1].str() == "0");
  } else {
    CHECK(log.find("All heap blocks were freed -- no leaks are possible") != std::string::npos);
  }
}
