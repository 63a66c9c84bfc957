#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "check/checker.h"
#include "check/models.h"
#include "check/process_table.h"
#include "config/config.h"
#include "metrics/exposition.h"
#include "metrics/piece_compressor.h"

namespace heartbeat_exporter {

// The per-process families of one report: heartbeat_state, heartbeat_age_seconds, ... A pure
// function, so that the exposition format is pinned by tests without a server.
std::vector<prometheus::MetricFamily> report_to_metric_families(const MonitorReport& report);

// One collection's exposition: what a scrape answers, shared by the scrapes that arrived while it
// was being made.
class Exposition {
 public:
  Exposition(ExpositionText text, std::shared_ptr<PieceCompressor> compressor, unsigned threads);

  const ExpositionText& text() const { return text_; }
  // The text gzipped, made once by the first request that asks; nullopt if zlib failed.
  const std::optional<std::string>& gzipped() const;

 private:
  ExpositionText text_;
  std::shared_ptr<PieceCompressor> compressor_;
  unsigned threads_;
  mutable std::once_flag gzip_once_;
  mutable std::optional<std::string> gzipped_;
};

// Runs the whole check on every scrape: no background polling, no verdict reused from an earlier
// scrape. Between scrapes it keeps only what Prometheus needs to be cumulative (the read error
// counters) and the last state per process, so that a state change is logged once.
class HeartbeatCollector final : public prometheus::Collectable {
 public:
  HeartbeatCollector(std::shared_ptr<const Config> config, const Clock& clock,
                     const ProcessTable& processes, CheckerOptions options = {});

  // One scrape: checks every process, counts and logs what changed, returns all families
  // including the exporter's own.
  std::vector<prometheus::MetricFamily> Collect() const override;

  // One scrape as the web server serves it: the same families as Collect(), written by the
  // fast renderer. A call that arrives while another one is collecting waits for it and gets
  // the same exposition, so that scrapes arriving together (an HA pair of Prometheus servers)
  // share one collection instead of doing the work twice.
  std::shared_ptr<const Exposition> expose() const;
  // How many expose() calls were answered by a collection another call had started.
  std::uint64_t shared_collections() const;

  // A fresh check that records nothing, for the landing page.
  MonitorReport check() const;

  std::shared_ptr<const Config> config() const;
  void set_config(std::shared_ptr<const Config> config);

  // Where the exporter's own metrics live; others (the reloader) register theirs here too.
  prometheus::Registry& self_metrics() { return *registry_; }

 private:
  void record(const MonitorReport& report) const;
  // The exporter's own families, built for one collection.
  std::vector<prometheus::MetricFamily> self_families(const MonitorReport& report) const;
  std::shared_ptr<const Exposition> collect_exposition() const;

  Checker checker_;
  unsigned threads_;
  std::shared_ptr<PieceCompressor> compressor_;

  mutable std::mutex config_mutex_;
  std::shared_ptr<const Config> config_;

  // The exporter's own metrics, kept in a prometheus-cpp registry.
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& read_errors_;

  mutable std::mutex expose_mutex_;
  mutable std::optional<std::shared_future<std::shared_ptr<const Exposition>>> in_flight_;
  mutable std::uint64_t shared_collections_ = 0;

  mutable std::mutex states_mutex_;
  // The state of each process at the last recorded scrape, sorted by key.
  mutable std::vector<std::pair<std::string, HealthState>> last_states_;
  mutable std::set<std::string> last_discovery_errors_;
  mutable Timestamp last_recorded_at_{};
};

}  // namespace heartbeat_exporter
