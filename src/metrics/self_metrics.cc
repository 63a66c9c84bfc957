#include "metrics/self_metrics.h"

#include <prometheus/gauge.h>

#include <chrono>
#include <iterator>
#include <map>
#include <string>
#include <utility>

#include "version.h"

namespace heartbeat_exporter {
namespace {

prometheus::MetricFamily single_gauge(std::string name, std::string help, double value) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = prometheus::MetricType::Gauge;
  prometheus::ClientMetric metric;
  metric.gauge.value = value;
  family.metric.push_back(std::move(metric));
  return family;
}

// One series per heartbeat folder, so that an alert can watch it before it is ever truncated.
prometheus::MetricFamily discovery_truncated(const MonitorReport& report) {
  // A folder listed twice in the config is one series.
  std::map<std::string, bool> truncated;
  for (const auto& folder : report.folders) truncated[folder.path.string()] |= folder.truncated;
  prometheus::MetricFamily family;
  family.name = "heartbeat_exporter_discovery_truncated";
  family.help =
      "1 when a heartbeat folder held more heartbeat files than its max_files in this scrape, so "
      "that only max_files of them were read.";
  family.type = prometheus::MetricType::Gauge;
  for (const auto& [dir, is_truncated] : truncated) {
    prometheus::ClientMetric metric;
    metric.label.push_back({"dir", dir});
    metric.gauge.value = is_truncated ? 1 : 0;
    family.metric.push_back(std::move(metric));
  }
  return family;
}

}  // namespace

SelfMetrics::SelfMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      read_errors_(prometheus::BuildCounter()
                       .Name("heartbeat_exporter_read_errors_total")
                       .Help("Heartbeat files that could not be read or validated, by reason.")
                       .Register(*registry_)),
      pid_checks_skipped_(
          prometheus::BuildCounter()
              .Name("heartbeat_exporter_pid_checks_skipped_total")
              .Help("Pid checks skipped although check_pid is set, by reason: the heartbeat names "
                    "a pid namespace the exporter cannot see into, or no start_ticks with it.")
              .Register(*registry_)) {
  prometheus::BuildGauge()
      .Name("heartbeat_exporter_build_info")
      .Help(
          "A metric with a constant '1' value labeled by the version, revision, compiler and "
          "build type of heartbeat_exporter.")
      .Register(*registry_)
      .Add({{"version", kVersion},
            {"revision", kRevision},
            {"compiler", kCompiler},
            {"build_type", kBuildType}})
      .Set(1);
  // Every reason exists from the start, so that rate() sees the first error as an increase.
  for (ReadError reason : kAllReadErrors) {
    read_errors_.Add({{"reason", std::string(to_string(reason))}});
  }
  for (std::string_view reason : kPidCheckSkipReasons) {
    pid_checks_skipped_.Add({{"reason", std::string(reason)}});
  }
}

void SelfMetrics::count_pid_checks_skipped(const MonitorReport& report) {
  for (const auto& result : report.results) {
    if (!result.pid_check_skipped.empty()) {
      pid_checks_skipped_.Add({{"reason", result.pid_check_skipped}}).Increment();
    }
  }
}

void SelfMetrics::count_read_errors(const MonitorReport& report) {
  for (const auto& result : report.results) {
    if (result.read_error) {
      read_errors_.Add({{"reason", std::string(to_string(*result.read_error))}}).Increment();
    }
  }
}

std::vector<prometheus::MetricFamily> SelfMetrics::families(const MonitorReport& report) const {
  auto families = registry_->Collect();
  // Built per scrape rather than kept in the registry, so that two scrapes running at once
  // each report their own figures.
  families.push_back(
      single_gauge("heartbeat_exporter_scrape_duration_seconds",
                   "Time this scrape spent discovering, reading and checking heartbeats.",
                   std::chrono::duration<double>(report.duration).count()));
  families.push_back(discovery_truncated(report));
  families.push_back(single_gauge("heartbeat_exporter_discovery_errors",
                                  "Heartbeat folders that could not be listed, and heartbeat files "
                                  "skipped for a name that is not UTF-8, in this scrape.",
                                  static_cast<double>(report.discovery_errors.size())));
  auto process = to_metric_families(process_.read());
  families.insert(families.end(), std::make_move_iterator(process.begin()),
                  std::make_move_iterator(process.end()));
  return families;
}

}  // namespace heartbeat_exporter
