// What someone who can write to a heartbeat folder (the user nobody) can make a root exporter
// hold and cost: thousands of files with the largest status a heartbeat may carry, and a folder
// of 200,000 files. Measured here, not among the fault tests, because they measure resident
// memory and time: they run alone (RUN_SERIAL) and not under the sanitizers.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
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

constexpr long kMiB = 1024;  // in KiB, as /proc/<pid>/status counts

// Writes `count` heartbeats named <prefix><i>.json into `folder` as nobody, each naming pid 1
// (alive) with `status`. Only `distinct` of them are files of their own, the rest hard links to
// those (nobody's own files, so fs.protected_hardlinks allows them): to the exporter each name is
// a file to open and read, and creating them costs no data blocks. Returns how long it took.
double create_as_nobody(const fs::path& folder, int count, const std::string& prefix,
                        const std::string& status, int distinct) {
  const std::string content = serialize_heartbeat(HeartbeatData{
      std::nullopt, 1,
      std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now()), status, 1});
  const auto started = std::chrono::steady_clock::now();
  as_nobody_in_child([&] {
    const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return 1;
    for (int i = 0; i < count; ++i) {
      const std::string name = prefix + std::to_string(i) + ".json";
      if (i >= distinct) {
        const std::string original = prefix + std::to_string(i % distinct) + ".json";
        if (::linkat(dir, original.c_str(), dir, name.c_str(), 0) != 0) return 2;
        continue;
      }
      const int fd = ::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd < 0) return 3;
      const bool written =
          ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
      ::close(fd);
      if (!written) return 4;
    }
    return 0;
  });
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

}  // namespace

TEST_CASE(
    "5,000 heartbeats with 60 KB statuses, written by nobody, leave a root exporter under 64 MiB "
    "resident after scrapes, a landing page under 2 MiB, and 8 concurrent ones under 128 MiB",
    "[memory]") {
  TempDir dir;
  require_root_and_reachable(dir.path());
  const auto hb = shared_folder(dir, "hb");
  constexpr int kFiles = 5000;
  const double created = create_as_nobody(hb, kFiles, "p", std::string(60000, 'x'), kFiles);
  const auto config = dir.write("config.json", R"({"heartbeat_dirs": [{"path": "hb"}]})");
  WrappedExporter exporter({}, config, dir.path());
  const pid_t pid = exporter.process().pid();
  const long at_start = resident_kib(pid);

  for (int i = 0; i < 3; ++i) {
    Exposition exposition = scrape_ok(exporter.port(), true);
    REQUIRE(exposition.states.size() == kFiles);
    CHECK(exposition.state("p0") == "error_status");
  }
  const long after_scrapes = resident_kib(pid);

  std::vector<std::size_t> page_bytes(8);
  std::vector<int> statuses(8);
  {
    std::vector<std::jthread> readers;
    for (std::size_t i = 0; i < page_bytes.size(); ++i) {
      readers.emplace_back([&, i] {
        try {
          auto page = http_get(exporter.port(), "/");
          statuses[i] = page.status;
          page_bytes[i] = page.body.size();
        } catch (const std::exception&) {
          statuses[i] = -1;
        }
      });
    }
  }
  const long after_pages = resident_kib(pid);
  const long peak = peak_resident_kib(pid);
  const std::size_t largest = *std::max_element(page_bytes.begin(), page_bytes.end());
  std::printf(
      "memory: %d files x 60 KB status (created by nobody in %.1f s): exporter VmRSS %ld KiB at "
      "start, %ld after 3 scrapes, %ld after 8 concurrent GET / of %zu bytes each; VmHWM %ld KiB\n",
      kFiles, created, at_start, after_scrapes, after_pages, largest, peak);
  std::fflush(stdout);
  for (int status : statuses) CHECK(status == 200);
  CHECK(largest > 0);
  CHECK(largest < 2 * 1024 * 1024);
  CHECK(after_scrapes < 64 * kMiB);
  // Each page is a fresh check of all 5,000 (about 5 MiB of results), 8 at once.
  CHECK(after_pages < 128 * kMiB);
}

TEST_CASE(
    "200,000 heartbeat files nobody wrote into one folder, and a root exporter reads 100,000, says "
    "so once, answers the first scrape in under 5 s and the next in under 2 s, under 256 MiB",
    "[memory]") {
  TempDir dir;
  require_root_and_reachable(dir.path());
  const auto hb = shared_folder(dir, "hb");
  constexpr int kFiles = 200000;
  // ext4 allows 65,000 links to one file.
  const double created = create_as_nobody(hb, kFiles, "w", "running", 4);
  // Files planted in advance are settled: the exporter remembers a file's content once it has
  // been left alone for 1 s (see HeartbeatCache), so later scrapes need not read them again.
  std::this_thread::sleep_for(1100ms);
  const auto config = dir.write("config.json", R"({"heartbeat_dirs": [{"path": "hb"}]})");
  WrappedExporter exporter({}, config, dir.path());
  const pid_t pid = exporter.process().pid();

  // gzip, as Prometheus asks.
  Scrape first = scrape(exporter.port(), true);
  INFO(first.error);
  REQUIRE(first.exposition);
  const Exposition& exposition = *first.exposition;
  std::vector<double> later;
  for (int i = 0; i < 3; ++i) {
    const auto started = std::chrono::steady_clock::now();
    const auto response = http_get(exporter.port(), "/metrics", {{"Accept-Encoding", "gzip"}});
    later.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    CHECK(response.status == 200);
  }
  const long resident = resident_kib(pid);
  const long peak = peak_resident_kib(pid);
  const std::string log = exporter.process().stderr_text();
  const double slowest_later = *std::max_element(later.begin(), later.end());
  std::printf(
      "memory: %d files in one folder (created by nobody in %.1f s): %zu processes read, "
      "discovery_truncated %s; first scrape %.2f s, next three %.2f/%.2f/%.2f s; exporter VmRSS "
      "%ld KiB after them, VmHWM %ld KiB\n",
      kFiles, created, exposition.states.size(),
      exposition.sample(R"(heartbeat_exporter_discovery_truncated{dir=")" + hb.string() + "\"}")
          .value_or("-")
          .c_str(),
      first.latency.count(), later[0], later[1], later[2], resident, peak);
  std::fflush(stdout);
  CHECK(exposition.states.size() == 100000);
  CHECK(exposition.sample(R"(heartbeat_exporter_discovery_truncated{dir=")" + hb.string() +
                          "\"}") == "1");
  CHECK(log_lines(log, {"level=warn", "more files than max_files", "dir=" + hb.string(),
                        "max_files=100000"})
            .size() == 1);
  CHECK(first.latency < 5s);
  CHECK(slowest_later < 2.0);
  CHECK(resident < 256 * kMiB);
}
