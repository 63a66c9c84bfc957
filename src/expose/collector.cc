#include "expose/collector.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "heartbeat_exporter/checker.h"
#include "util/log.h"
#include "version.h"

namespace heartbeat_exporter {
namespace {

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
  auto state =
      make_family("heartbeat_state",
                  "Health state of a monitored process: 1 for its current state, 0 for the others.",
                  MetricType::Gauge);
  auto age = make_family("heartbeat_age_seconds",
                         "Seconds since the process's last heartbeat (now minus its timestamp).",
                         MetricType::Gauge);
  auto last = make_family("heartbeat_last_timestamp_seconds",
                          "Unix time of the process's last heartbeat.", MetricType::Gauge);
  auto iteration = make_family("heartbeat_iteration_total",
                               "Iteration counter reported in the process's last heartbeat.",
                               MetricType::Counter);
  auto timeout = make_family("heartbeat_timeout_seconds",
                             "Configured heartbeat timeout of the process.", MetricType::Gauge);
  auto pid = make_family("heartbeat_pid", "Process ID reported in the process's last heartbeat.",
                         MetricType::Gauge);

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

HeartbeatCollector::HeartbeatCollector(std::shared_ptr<const Config> config, const Clock& clock,
                                       const ProcessTable& processes)
    : clock_(clock),
      processes_(processes),
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
  return check_all_processes(*config, clock_, processes_);
}

std::vector<prometheus::MetricFamily> HeartbeatCollector::Collect() const {
  MonitorReport report = check();
  record(report);
  auto families = report_to_metric_families(report);
  auto own = registry_->Collect();
  families.insert(families.end(), std::make_move_iterator(own.begin()),
                  std::make_move_iterator(own.end()));
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
  std::map<std::string, HealthState> current;
  for (const auto& result : report.results) {
    current.emplace(result.process.key, result.state);
    auto previous = last_states_.find(result.process.key);
    bool first_sight = previous == last_states_.end();
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
  for (const auto& [key, state] : last_states_) {
    if (!current.contains(key)) {
      log::info("process no longer monitored", {{"process", key}});
    }
  }
  last_states_ = std::move(current);

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
