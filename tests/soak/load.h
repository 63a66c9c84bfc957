#pragma once

// Helpers shared by the soak, fault and memory tests: strict parsing of a scrape, scraping with
// timing, the exporter's resident memory, and starting the exporter behind a wrapper program
// (setpriv, valgrind).

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/subprocess.h"

namespace heartbeat_exporter::testing {

// What one scrape of /metrics showed.
struct Exposition {
  std::map<std::string, std::string> states;   // process -> the state whose series is 1
  std::map<std::string, std::string> samples;  // series text (name and labels) -> value

  bool has_process(const std::string& key) const { return states.contains(key); }
  // The process's state label value, or "(missing)" when the scrape does not show it.
  std::string state(const std::string& key) const;
  // The value of a series, e.g. `heartbeat_exporter_read_errors_total{reason="missing"}`.
  std::optional<std::string> sample(const std::string& series) const;
};

struct ParseResult {
  std::optional<Exposition> exposition;
  std::string error;  // the first problem, with the line it was found on
};

// Parses the text exposition format strictly enough to catch a torn or garbled body: every line
// is a comment or `name{labels} value` without a timestamp, and every process has its five
// heartbeat_state series with exactly one of them at 1.
ParseResult parse_exposition(std::string_view text);

struct Scrape {
  std::optional<Exposition> exposition;  // set when the scrape succeeded
  std::string error;                     // otherwise why it failed
  std::chrono::duration<double> latency{};
};

// GETs the metrics, asking for gzip when `gzip` is set, with `headers` (e.g. Authorization) too.
// The scrape fails on a connection error, a status other than 200, a Content-Encoding that does
// not match the request, or a body that does not parse.
Scrape scrape(int port, bool gzip = false, const std::string& path = "/metrics",
              std::map<std::string, std::string> headers = {});

// VmRSS of a process in KiB, from /proc/<pid>/status; -1 when it cannot be read.
long resident_kib(pid_t pid);
// Its peak so far (VmHWM), likewise.
long peak_resident_kib(pid_t pid);

// User plus system CPU time a process has used, from /proc/<pid>/stat; -1 when unknown.
double cpu_seconds(pid_t pid);

// The p-quantile (0..1) of `values`, nearest rank; 0 for no values.
double percentile(std::vector<double> values, double p);

// Counts failures from many threads and keeps the first few messages for the report.
class Failures {
 public:
  void add(std::string message);
  std::size_t count() const;
  // The kept messages, one per line.
  std::string summary() const;

 private:
  static constexpr std::size_t kKept = 10;
  mutable std::mutex mutex_;
  std::size_t count_ = 0;
  std::vector<std::string> kept_;
};

// The exporter on 127.0.0.1 with an ephemeral port, started through `wrapper` (e.g. setpriv or
// valgrind and their flags; may be empty), so that the wrapper's pid is the exporter's.
class WrappedExporter {
 public:
  WrappedExporter(const std::vector<std::string>& wrapper, const std::filesystem::path& config,
                  const std::filesystem::path& log_dir, const std::vector<std::string>& flags = {},
                  std::chrono::milliseconds startup_timeout = std::chrono::seconds(10));
  int port() const { return port_; }
  Subprocess& process() { return *process_; }

 private:
  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
};

// Occurrences of `needle` in `text`.
std::size_t count_of(std::string_view text, std::string_view needle);

}  // namespace heartbeat_exporter::testing
