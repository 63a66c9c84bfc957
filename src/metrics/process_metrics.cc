#include "metrics/process_metrics.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <string_view>
#include <utility>

#include "util/bounded_file.h"
#include "util/parse_integer.h"
#include "util/proc_stat.h"

namespace heartbeat_exporter {
namespace {

// /proc files say they are empty, so a read fills a buffer of the bound: keep the bounds of the
// files read at every scrape tight. self/stat is one line of about 300 bytes, limits about
// 1.5 KiB; /proc/stat grows with the number of CPUs and is read once.
constexpr std::size_t kMaxSelfStatBytes = 4096;
constexpr std::size_t kMaxLimitsBytes = 8192;
constexpr std::size_t kMaxProcStatBytes = 1 << 20;

std::optional<std::string> read_proc_file(const std::filesystem::path& path,
                                          std::size_t max_bytes) {
  auto file = detail::read_bounded_file(path, max_bytes);
  if (file.status != detail::BoundedFile::Status::kOk) return std::nullopt;
  return std::move(file.content);
}

std::optional<double> to_number(std::string_view text) {
  auto value = detail::parse_integer<std::uint64_t>(text);
  if (!value) return std::nullopt;
  return static_cast<double>(*value);
}

// Field n of the exporter's own stat line, as a number.
std::optional<double> stat_field(std::string_view line, std::size_t n) {
  auto field = detail::proc_stat_field(line, n);
  if (!field) return std::nullopt;
  return to_number(*field);
}

std::optional<double> boot_time_seconds(const std::filesystem::path& proc) {
  auto stat = read_proc_file(proc / "stat", kMaxProcStatBytes);
  auto seconds = stat ? detail::proc_boot_time(*stat) : std::nullopt;
  if (!seconds) return std::nullopt;
  return static_cast<double>(*seconds);
}

// The soft limit of "Max open files": "Max open files  1024  524288  files".
std::optional<double> max_open_files(const std::filesystem::path& limits_file) {
  auto limits = read_proc_file(limits_file, kMaxLimitsBytes);
  if (!limits) return std::nullopt;
  constexpr std::string_view kPrefix = "Max open files";
  std::string_view text = *limits;
  auto begin = text.find(kPrefix);
  if (begin == std::string_view::npos) return std::nullopt;
  text.remove_prefix(begin + kPrefix.size());
  text = text.substr(0, text.find('\n'));
  auto first = text.find_first_not_of(' ');
  if (first == std::string_view::npos) return std::nullopt;
  text.remove_prefix(first);
  auto soft = text.substr(0, text.find(' '));
  // As client_golang does, an unlimited soft limit is reported as the largest value there is.
  if (soft == "unlimited") return 18446744073709551615.0;
  return to_number(soft);
}

std::optional<double> open_file_descriptors(const std::filesystem::path& fd_folder) {
  DIR* folder = ::opendir(fd_folder.c_str());
  if (folder == nullptr) return std::nullopt;
  const int own = ::dirfd(folder);
  const std::string own_name = std::to_string(own);
  struct stat own_info {};
  ::fstat(own, &own_info);
  double count = 0;
  while (const dirent* entry = ::readdir(folder)) {
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    // The descriptor that is reading the folder is not one the exporter holds; in /proc its
    // entry leads to the folder itself.
    struct stat info {};
    if (name == own_name && ::fstatat(own, entry->d_name, &info, 0) == 0 &&
        info.st_dev == own_info.st_dev && info.st_ino == own_info.st_ino) {
      continue;
    }
    ++count;
  }
  ::closedir(folder);
  return count;
}

prometheus::MetricFamily family(std::string name, std::string help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily out;
  out.name = std::move(name);
  out.help = std::move(help);
  out.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  out.metric.push_back(std::move(metric));
  return out;
}

}  // namespace

ProcessMetricsReader::ProcessMetricsReader(std::filesystem::path proc, long clock_ticks_per_second,
                                           long page_size)
    : proc_(std::move(proc)),
      ticks_per_second_(static_cast<double>(clock_ticks_per_second > 0 ? clock_ticks_per_second
                                                                       : ::sysconf(_SC_CLK_TCK))),
      page_size_(static_cast<double>(page_size > 0 ? page_size : ::sysconf(_SC_PAGESIZE))),
      boot_time_seconds_(boot_time_seconds(proc_)) {}

ProcessMetrics ProcessMetricsReader::read() const {
  ProcessMetrics out;
  if (auto stat = read_proc_file(proc_ / "self" / "stat", kMaxSelfStatBytes)) {
    const std::string_view line = *stat;
    auto utime = stat_field(line, 14);
    auto stime = stat_field(line, 15);
    if (utime && stime && ticks_per_second_ > 0) {
      out.cpu_seconds = (*utime + *stime) / ticks_per_second_;
    }
    if (auto vsize = stat_field(line, 23)) out.virtual_memory_bytes = *vsize;
    if (auto rss = stat_field(line, 24)) out.resident_memory_bytes = *rss * page_size_;
    auto start_ticks = stat_field(line, 22);
    if (start_ticks && boot_time_seconds_ && ticks_per_second_ > 0) {
      out.start_time_seconds = *boot_time_seconds_ + *start_ticks / ticks_per_second_;
    }
  }
  out.open_fds = open_file_descriptors(proc_ / "self" / "fd");
  out.max_fds = max_open_files(proc_ / "self" / "limits");
  return out;
}

std::vector<prometheus::MetricFamily> to_metric_families(const ProcessMetrics& metrics) {
  using prometheus::MetricType;
  struct Spec {
    const char* name;
    const char* help;
    MetricType type;
    const std::optional<double>& value;
  };
  const Spec specs[] = {
      {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
       MetricType::Counter, metrics.cpu_seconds},
      {"process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
       metrics.max_fds},
      {"process_open_fds", "Number of open file descriptors.", MetricType::Gauge, metrics.open_fds},
      {"process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
       metrics.resident_memory_bytes},
      {"process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
       MetricType::Gauge, metrics.start_time_seconds},
      {"process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
       metrics.virtual_memory_bytes},
  };
  std::vector<prometheus::MetricFamily> families;
  for (const auto& spec : specs) {
    if (spec.value) families.push_back(family(spec.name, spec.help, spec.type, *spec.value));
  }
  return families;
}

}  // namespace heartbeat_exporter
