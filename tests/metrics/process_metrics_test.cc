#include "metrics/process_metrics.h"

#include <unistd.h>

// Shows optional values in failure messages instead of "{?}".
#define CATCH_CONFIG_ENABLE_OPTIONAL_STRINGMAKER

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace heartbeat_exporter {
namespace {

using testing::TempDir;

// A /proc of our own: self/stat with comm "(a b) c" (spaces and a parenthesis, as a real comm
// may have), utime 250 and stime 150 ticks, starttime 5000 ticks, vsize 123456789 bytes,
// rss 1000 pages; btime 1700000000; a soft limit of 4096 open files; three open descriptors.
void write_fake_proc(TempDir& proc) {
  std::filesystem::create_directories(proc.path() / "self" / "fd");
  //                       3 4 5 6 7 8 9 10 11 12 13 14  15  16 17 18 19 20 21 22   23        24
  proc.write("self/stat",
             "42 ((a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 4 0 "
             "5000 123456789 1000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 "
             "1 0 0 0 0 0\n");
  proc.write("stat", "cpu  1 2 3 4\ncpu0 1 2 3 4\nintr 0\nctxt 10\nbtime 1700000000\n");
  proc.write("self/limits",
             "Limit                     Soft Limit           Hard Limit           Units     \n"
             "Max cpu time              unlimited            unlimited            seconds   \n"
             "Max open files            4096                 524288               files     \n");
  for (const char* fd : {"0", "1", "2"}) proc.write(std::string("self/fd/") + fd, "");
}

TEST_CASE("process metrics are read from stat, limits and fd as client_golang reads them") {
  TempDir proc;
  write_fake_proc(proc);

  auto metrics = ProcessMetricsReader(proc.path(), 100, 4096).read();

  CHECK(metrics.cpu_seconds == 4.0);
  CHECK(metrics.virtual_memory_bytes == 123456789.0);
  CHECK(metrics.resident_memory_bytes == 1000.0 * 4096);
  CHECK(metrics.start_time_seconds == 1700000050.0);
  CHECK(metrics.max_fds == 4096.0);
  CHECK(metrics.open_fds == 3.0);
}

TEST_CASE("an unlimited open files limit is the largest value, as client_golang reports it") {
  TempDir proc;
  write_fake_proc(proc);
  proc.write("self/limits", "Max open files            unlimited            unlimited  files\n");

  CHECK(ProcessMetricsReader(proc.path(), 100, 4096).read().max_fds == 18446744073709551615.0);
}

TEST_CASE("figures that /proc does not give are left out, never made up") {
  TempDir proc;
  proc.write("self/stat", "42 (short) S 1 2\n");

  auto metrics = ProcessMetricsReader(proc.path(), 100, 4096).read();

  CHECK_FALSE(metrics.cpu_seconds);
  CHECK_FALSE(metrics.virtual_memory_bytes);
  CHECK_FALSE(metrics.resident_memory_bytes);
  CHECK_FALSE(metrics.start_time_seconds);
  CHECK_FALSE(metrics.max_fds);
  CHECK_FALSE(metrics.open_fds);
  CHECK(to_metric_families(metrics).empty());
}

TEST_CASE("process families have client_golang's names, types and units") {
  TempDir proc;
  write_fake_proc(proc);

  auto families = to_metric_families(ProcessMetricsReader(proc.path(), 100, 4096).read());

  std::vector<std::string> names;
  for (const auto& family : families) {
    names.push_back(family.name);
    REQUIRE(family.metric.size() == 1);
    CHECK(family.metric[0].label.empty());
    CHECK(family.type == (family.name == "process_cpu_seconds_total"
                              ? prometheus::MetricType::Counter
                              : prometheus::MetricType::Gauge));
  }
  CHECK(names == std::vector<std::string>{"process_cpu_seconds_total", "process_max_fds",
                                          "process_open_fds", "process_resident_memory_bytes",
                                          "process_start_time_seconds",
                                          "process_virtual_memory_bytes"});
  CHECK(families[0].metric[0].counter.value == 4.0);
  CHECK(families[2].metric[0].gauge.value == 3.0);
}

TEST_CASE("the exporter's own /proc/self gives every figure, and they fit together") {
  auto metrics = ProcessMetricsReader().read();

  REQUIRE(metrics.cpu_seconds);
  REQUIRE(metrics.resident_memory_bytes);
  REQUIRE(metrics.virtual_memory_bytes);
  REQUIRE(metrics.start_time_seconds);
  REQUIRE(metrics.open_fds);
  REQUIRE(metrics.max_fds);
  CHECK(*metrics.cpu_seconds >= 0);
  CHECK(*metrics.resident_memory_bytes > 0);
  CHECK(*metrics.virtual_memory_bytes >= *metrics.resident_memory_bytes);
  CHECK(*metrics.open_fds >= 3);  // stdin, stdout, stderr
  CHECK(*metrics.open_fds <= *metrics.max_fds);
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  // This test process started a moment ago (btime is whole seconds, hence the slack).
  CHECK(*metrics.start_time_seconds <= now + 2);
  CHECK(*metrics.start_time_seconds > now - 3600);
}

TEST_CASE("a descriptor opened by the test counts, and closing it uncounts it") {
  auto before = ProcessMetricsReader().read().open_fds;
  int fd = ::dup(0);
  REQUIRE(fd >= 0);
  auto during = ProcessMetricsReader().read().open_fds;
  ::close(fd);
  auto after = ProcessMetricsReader().read().open_fds;

  REQUIRE(before);
  CHECK(during == *before + 1);
  CHECK(after == before);
}

}  // namespace
}  // namespace heartbeat_exporter
