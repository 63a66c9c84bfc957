#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <memory>
#include <vector>

#include "check/models.h"
#include "metrics/process_metrics.h"

namespace heartbeat_exporter {

// The exporter's own metrics: build info, heartbeat read errors by reason (cumulative across
// scrapes), what others register (the config reloader), the figures of one scrape, and the
// standard process_* metrics of the exporter process. Thread-safe (prometheus-cpp's registry
// and counters are).
class SelfMetrics {
 public:
  SelfMetrics();

  // Where the exporter's cumulative metrics live; others register theirs here too.
  prometheus::Registry& registry() { return *registry_; }

  // Counts the report's failed reads in heartbeat_exporter_read_errors_total.
  void count_read_errors(const MonitorReport& report);
  // Counts the report's skipped pid checks in heartbeat_exporter_pid_checks_skipped_total.
  void count_pid_checks_skipped(const MonitorReport& report);

  // Every family, with heartbeat_exporter_scrape_duration_seconds,
  // heartbeat_exporter_discovery_truncated and heartbeat_exporter_discovery_errors taken from
  // `report` and process_* read now.
  std::vector<prometheus::MetricFamily> families(const MonitorReport& report) const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& read_errors_;
  prometheus::Family<prometheus::Counter>& pid_checks_skipped_;
  ProcessMetricsReader process_;
};

}  // namespace heartbeat_exporter
