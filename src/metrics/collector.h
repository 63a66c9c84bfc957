// Stage 5, metrics: turns each scrape's check into the exposition text that /metrics serves.
#pragma once

#include <prometheus/registry.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "check/checker.h"
#include "check/models.h"
#include "check/process_table.h"
#include "config/config.h"
#include "metrics/exposition.h"
#include "metrics/piece_compressor.h"
#include "metrics/self_metrics.h"
#include "metrics/single_flight.h"
#include "metrics/transition_log.h"

namespace heartbeat_exporter {

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
// counters), the last state per process (so that a state change is logged once) and the gzip of
// unchanged pieces. Thread-safe; the Clock and ProcessTable must outlive it.
class HeartbeatCollector {
 public:
  HeartbeatCollector(std::shared_ptr<const Config> config, const Clock& clock,
                     const ProcessTable& processes, CheckerOptions options = {});

  // One scrape: checks every process, counts and logs what changed, and renders every family,
  // the exporter's own included. A call that arrives while another one is collecting waits for
  // it and gets the same exposition.
  std::shared_ptr<const Exposition> expose();
  // How many expose() calls were answered by a collection another call had started.
  std::uint64_t shared_collections() const { return in_flight_.shared(); }

  // A fresh check that records nothing, for the landing page.
  MonitorReport check() const;

  std::shared_ptr<const Config> config() const;
  void set_config(std::shared_ptr<const Config> config);

  // Where the exporter's own metrics live; others (the reloader) register theirs here too.
  prometheus::Registry& self_metrics() { return self_.registry(); }

 private:
  std::shared_ptr<const Exposition> collect();

  Checker checker_;
  unsigned threads_;
  std::shared_ptr<PieceCompressor> compressor_;
  SelfMetrics self_;
  TransitionLog transitions_;
  SingleFlight<std::shared_ptr<const Exposition>> in_flight_;

  // Guards config_, the snapshot that the next check starts from; a check holds its own
  // reference, so a reload never changes the config under a scrape.
  mutable std::mutex config_mutex_;
  std::shared_ptr<const Config> config_;
};

}  // namespace heartbeat_exporter
