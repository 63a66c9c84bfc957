#include "metrics/collector.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <utility>

#include "check/checker.h"
#include "util/log.h"
#include "version.h"

namespace heartbeat_exporter {
namespace {

// zlib's fastest level: on exposition text it compresses about as well as the default level
// (see README, Performance) at a fraction of the time.
constexpr int kGzipLevel = 1;

// The pieces of text the compressor reuses when unchanged: a state change or a beat costs
// compressing the piece of 1,000 processes it falls in, not the whole family.
constexpr std::size_t kProcessesPerPiece = 1000;

prometheus::MetricFamily make_family(std::string name, std::string help,
                                     prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

std::vector<prometheus::ClientMetric::Label> process_labels(const ProcessConfig& process) {
  std::vector<prometheus::ClientMetric::Label> labels;
  labels.reserve(process.labels.size() + 2);
  labels.push_back({"process", process.key});
  for (const auto& [name, value] : process.labels) labels.push_back({name, value});
  return labels;
}

void add_gauge(prometheus::MetricFamily& family,
               std::vector<prometheus::ClientMetric::Label> labels, double value) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  family.metric.push_back(std::move(metric));
}

prometheus::MetricFamily single_gauge(std::string name, std::string help, double value) {
  auto family = make_family(std::move(name), std::move(help), prometheus::MetricType::Gauge);
  add_gauge(family, {}, value);
  return family;
}

}  // namespace

std::vector<prometheus::MetricFamily> report_to_metric_families(const MonitorReport& report) {
  using prometheus::MetricType;
  auto empty_family = [](std::size_t index) {
    const ProcessFamily& spec = kProcessFamilies[index];
    return make_family(std::string(spec.name), std::string(spec.help),
                       spec.counter ? MetricType::Counter : MetricType::Gauge);
  };
  auto state = empty_family(0);
  auto age = empty_family(1);
  auto last = empty_family(2);
  auto iteration = empty_family(3);
  auto timeout = empty_family(4);
  auto pid = empty_family(5);

  state.metric.reserve(report.results.size() * kAllHealthStates.size());
  for (const auto& result : report.results) {
    auto labels = process_labels(result.process);
    for (HealthState candidate : kAllHealthStates) {
      auto state_labels = labels;
      state_labels.push_back({"state", std::string(to_label_value(candidate))});
      add_gauge(state, std::move(state_labels), candidate == result.state ? 1 : 0);
    }
    add_gauge(timeout, labels, result.process.timeout_seconds);
    if (!result.heartbeat) continue;
    // A timestamp too far in the future is no heartbeat at all, so it gets no age either.
    if (result.age_seconds) {
      add_gauge(age, labels, *result.age_seconds);
      add_gauge(last, labels, to_unix_seconds(result.heartbeat->timestamp));
    }
    add_gauge(pid, labels, static_cast<double>(result.heartbeat->pid));
    if (result.heartbeat->iteration) {
      prometheus::ClientMetric metric;
      metric.label = labels;
      metric.counter.value = static_cast<double>(*result.heartbeat->iteration);
      iteration.metric.push_back(std::move(metric));
    }
  }

  std::vector<prometheus::MetricFamily> families;
  for (auto* family : {&state, &age, &last, &iteration, &timeout, &pid}) {
    if (!family->metric.empty()) families.push_back(std::move(*family));
  }
  return families;
}

Exposition::Exposition(ExpositionText text, std::shared_ptr<PieceCompressor> compressor,
                       unsigned threads)
    : text_(std::move(text)), compressor_(std::move(compressor)), threads_(threads) {}

const std::optional<std::string>& Exposition::gzipped() const {
  std::call_once(gzip_once_, [this] { gzipped_ = compressor_->gzip(text_, threads_); });
  return gzipped_;
}

HeartbeatCollector::HeartbeatCollector(std::shared_ptr<const Config> config, const Clock& clock,
                                       const ProcessTable& processes, CheckerOptions options)
    : checker_(clock, processes, options),
      threads_(checker_.threads()),
      compressor_(std::make_shared<PieceCompressor>(kGzipLevel)),
      config_(std::move(config)),
      registry_(std::make_shared<prometheus::Registry>()),
      read_errors_(prometheus::BuildCounter()
                       .Name("heartbeat_exporter_read_errors_total")
                       .Help("Heartbeat files that could not be read or validated, by reason.")
                       .Register(*registry_)) {
  prometheus::BuildGauge()
      .Name("heartbeat_exporter_build_info")
      .Help(
          "A metric with a constant '1' value labeled by the version and revision of "
          "heartbeat_exporter.")
      .Register(*registry_)
      .Add({{"version", kVersion}, {"revision", kRevision}})
      .Set(1);
  // Every reason exists from the start, so that rate() sees the first error as an increase.
  for (ReadError reason : kAllReadErrors)
    read_errors_.Add({{"reason", std::string(to_string(reason))}});
}

std::shared_ptr<const Config> HeartbeatCollector::config() const {
  std::lock_guard lock(config_mutex_);
  return config_;
}

void HeartbeatCollector::set_config(std::shared_ptr<const Config> config) {
  std::lock_guard lock(config_mutex_);
  config_ = std::move(config);
}

MonitorReport HeartbeatCollector::check() const {
  // Holding our own reference keeps the config alive even if a reload swaps it mid-scrape.
  auto config = this->config();
  return checker_.check_all(*config);
}

std::vector<prometheus::MetricFamily> HeartbeatCollector::Collect() const {
  MonitorReport report = check();
  record(report);
  auto families = report_to_metric_families(report);
  auto own = self_families(report);
  families.insert(families.end(), std::make_move_iterator(own.begin()),
                  std::make_move_iterator(own.end()));
  return families;
}

std::shared_ptr<const Exposition> HeartbeatCollector::expose() const {
  std::unique_lock lock(expose_mutex_);
  if (in_flight_) {
    auto shared = *in_flight_;
    ++shared_collections_;
    lock.unlock();
    return shared.get();
  }
  std::promise<std::shared_ptr<const Exposition>> promise;
  in_flight_ = promise.get_future().share();
  lock.unlock();

  std::shared_ptr<const Exposition> exposition;
  try {
    exposition = collect_exposition();
    promise.set_value(exposition);
  } catch (...) {
    promise.set_exception(std::current_exception());
  }
  lock.lock();
  auto finished = std::move(*in_flight_);
  in_flight_.reset();
  lock.unlock();
  // Rethrows what collect_exposition threw, as for the callers that waited.
  return finished.get();
}

std::uint64_t HeartbeatCollector::shared_collections() const {
  std::lock_guard lock(expose_mutex_);
  return shared_collections_;
}

std::shared_ptr<const Exposition> HeartbeatCollector::collect_exposition() const {
  ExpositionText text;
  std::string self_text;
  {
    MonitorReport report = check();
    record(report);
    text = render_process_families(report, threads_, kProcessesPerPiece);
    // The exporter's own metrics stay with prometheus-cpp: few series, its serializer is fine.
    self_text = prometheus::TextSerializer().Serialize(self_families(report));
    // The report goes here, before anything is compressed: at 100,000 processes it is as
    // large as the text.
  }
  text.pieces.push_back(std::move(self_text));
  return std::make_shared<const Exposition>(std::move(text), compressor_, threads_);
}

std::vector<prometheus::MetricFamily> HeartbeatCollector::self_families(
    const MonitorReport& report) const {
  auto families = registry_->Collect();
  // Built per scrape rather than kept in the registry, so that two scrapes running at once
  // each report their own figures.
  families.push_back(
      single_gauge("heartbeat_exporter_scrape_duration_seconds",
                   "Time this scrape spent discovering, reading and checking heartbeats.",
                   std::chrono::duration<double>(report.duration).count()));
  families.push_back(single_gauge("heartbeat_exporter_discovery_errors",
                                  "Heartbeat folders that could not be listed, and heartbeat files "
                                  "skipped for a name that is not UTF-8, in this scrape.",
                                  static_cast<double>(report.discovery_errors.size())));
  return families;
}

void HeartbeatCollector::record(const MonitorReport& report) const {
  for (const auto& result : report.results) {
    if (result.read_error) {
      read_errors_.Add({{"reason", std::string(to_string(*result.read_error))}}).Increment();
    }
  }

  std::lock_guard lock(states_mutex_);
  // Concurrent scrapes can finish in any order; an older view must not undo a newer one's
  // log lines, or a state would seem to flap.
  if (report.checked_at < last_recorded_at_) return;
  last_recorded_at_ = report.checked_at;
  // Both lists are sorted by key, so one walk over them pairs each process with its last state.
  auto by_key = [](const auto& entry, const std::string& key) { return entry.first < key; };
  for (const auto& result : report.results) {
    auto previous =
        std::lower_bound(last_states_.begin(), last_states_.end(), result.process.key, by_key);
    bool first_sight = previous == last_states_.end() || previous->first != result.process.key;
    // A healthy process seen for the first time is the normal case and not worth a line.
    if (first_sight && result.state == HealthState::kHealthy) continue;
    if (!first_sight && previous->second == result.state) continue;
    auto fields = {
        log::Field{"process", result.process.key},
        log::Field{"from", first_sight ? "unknown" : std::string(to_label_value(previous->second))},
        log::Field{"to", std::string(to_label_value(result.state))},
        log::Field{"reason", result.reason},
        log::Field{"detail", result.detail},
    };
    if (result.state == HealthState::kHealthy) {
      log::info("process state changed", fields);
    } else {
      log::warn("process state changed", fields);
    }
  }
  const bool same_processes =
      last_states_.size() == report.results.size() &&
      std::equal(last_states_.begin(), last_states_.end(), report.results.begin(),
                 [](const auto& entry, const CheckResult& result) {
                   return entry.first == result.process.key;
                 });
  if (same_processes) {
    // The common case: only states change, no key is copied.
    for (std::size_t i = 0; i < report.results.size(); ++i) {
      last_states_[i].second = report.results[i].state;
    }
  } else {
    auto is_monitored = [&](const std::string& key) {
      auto found = std::lower_bound(
          report.results.begin(), report.results.end(), key,
          [](const CheckResult& result, const std::string& k) { return result.process.key < k; });
      return found != report.results.end() && found->process.key == key;
    };
    for (const auto& [key, state] : last_states_) {
      if (!is_monitored(key)) log::info("process no longer monitored", {{"process", key}});
    }
    last_states_.clear();
    last_states_.reserve(report.results.size());
    for (const auto& result : report.results) {
      last_states_.emplace_back(result.process.key, result.state);
    }
  }

  for (const auto& error : report.discovery_errors) {
    if (!last_discovery_errors_.contains(error)) log::warn("discovery failed", {{"err", error}});
  }
  for (const auto& error : last_discovery_errors_) {
    if (std::find(report.discovery_errors.begin(), report.discovery_errors.end(), error) ==
        report.discovery_errors.end()) {
      log::info("discovery recovered", {{"was", error}});
    }
  }
  last_discovery_errors_ = {report.discovery_errors.begin(), report.discovery_errors.end()};
}

}  // namespace heartbeat_exporter
