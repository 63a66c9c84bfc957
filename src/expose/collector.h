#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "heartbeat_exporter/config.h"
#include "heartbeat_exporter/models.h"
#include "heartbeat_exporter/process_table.h"

namespace heartbeat_exporter {

// The per-process families of one report: heartbeat_state, heartbeat_age_seconds, ... A pure
// function, so that the exposition format is pinned by tests without a server.
std::vector<prometheus::MetricFamily> report_to_metric_families(const MonitorReport& report);

// Runs the whole check on every scrape: no background polling, no verdict reused from an earlier
// scrape. Between scrapes it keeps only what Prometheus needs to be cumulative (the read error
// counters) and the last state per process, so that a state change is logged once.
class HeartbeatCollector final : public prometheus::Collectable {
 public:
  HeartbeatCollector(std::shared_ptr<const Config> config, const Clock& clock,
                     const ProcessTable& processes);

  // One scrape: checks every process, counts and logs what changed, returns all families
  // including the exporter's own.
  std::vector<prometheus::MetricFamily> Collect() const override;

  // A fresh check that records nothing, for the landing page.
  MonitorReport check() const;

  std::shared_ptr<const Config> config() const;
  void set_config(std::shared_ptr<const Config> config);

  // Where the exporter's own metrics live; others (the reloader) register theirs here too.
  prometheus::Registry& self_metrics() { return *registry_; }

 private:
  void record(const MonitorReport& report) const;

  const Clock& clock_;
  const ProcessTable& processes_;

  mutable std::mutex config_mutex_;
  std::shared_ptr<const Config> config_;

  // The exporter's own metrics, kept in a prometheus-cpp registry.
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& read_errors_;

  mutable std::mutex states_mutex_;
  mutable std::map<std::string, HealthState> last_states_;
  mutable std::set<std::string> last_discovery_errors_;
  mutable Timestamp last_recorded_at_{};
};

}  // namespace heartbeat_exporter
