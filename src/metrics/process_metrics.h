#pragma once

#include <prometheus/metric_family.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

namespace heartbeat_exporter {

// The exporter's own resource use, as the Prometheus client libraries' process collectors
// report it. Each figure is nullopt when /proc does not give it.
struct ProcessMetrics {
  std::optional<double> cpu_seconds;            // utime + stime
  std::optional<double> resident_memory_bytes;  // rss pages * page size
  std::optional<double> virtual_memory_bytes;   // vsize
  std::optional<double> start_time_seconds;     // btime + starttime / clock ticks
  std::optional<double> open_fds;               // entries of fd/, less the one reading it
  std::optional<double> max_fds;                // soft "Max open files" of limits
};

// Reads the figures of the process `self` names under `proc` (the real /proc by default; tests
// point it at a folder of their own with self/stat, self/limits, self/fd/ and stat). The boot
// time (btime of proc/stat, which can be long on a many-CPU machine) is read once, at
// construction; the rest at each read(). Thread-safe.
class ProcessMetricsReader {
 public:
  explicit ProcessMetricsReader(std::filesystem::path proc = "/proc",
                                long clock_ticks_per_second = 0, long page_size = 0);
  ProcessMetrics read() const;

 private:
  std::filesystem::path proc_;
  double ticks_per_second_;
  double page_size_;
  std::optional<double> boot_time_seconds_;
};

// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_start_time_seconds, process_open_fds and process_max_fds, with the names, help texts,
// types and units of client_golang's process collector; a figure that could not be read has no
// family.
std::vector<prometheus::MetricFamily> to_metric_families(const ProcessMetrics& metrics);

}  // namespace heartbeat_exporter
