#pragma once

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <string>
#include <vector>

#include "check/models.h"
#include "metrics/process_families.h"

namespace heartbeat_exporter::testing {

// The per-process families of a report as prometheus-cpp's data model, built the plain way:
// the oracle that the renderer's bytes are compared with (TextSerializer writes these).
inline std::vector<prometheus::MetricFamily> oracle_families(const MonitorReport& report) {
  std::vector<prometheus::MetricFamily> families;
  for (const ProcessFamily& spec : kProcessFamilies) {
    prometheus::MetricFamily family;
    family.name = std::string(spec.name);
    family.help = std::string(spec.help);
    family.type = spec.type == FamilyType::kCounter ? prometheus::MetricType::Counter
                                                    : prometheus::MetricType::Gauge;
    for (const auto& result : report.results) {
      std::vector<prometheus::ClientMetric::Label> labels = {{"process", result.process.key}};
      if (spec.info_labels == nullptr) {
        for (const auto& [name, value] : result.process.labels) labels.push_back({name, value});
      } else {
        for (const auto& [name, value] : spec.info_labels(result)) {
          labels.push_back({std::string(name), std::string(value)});
        }
      }
      auto add = [&](std::vector<prometheus::ClientMetric::Label> series_labels, double value) {
        prometheus::ClientMetric metric;
        metric.label = std::move(series_labels);
        if (spec.type == FamilyType::kCounter) {
          metric.counter.value = value;
        } else {
          metric.gauge.value = value;
        }
        family.metric.push_back(std::move(metric));
      };
      if (spec.value == nullptr) {
        for (HealthState state : kAllHealthStates) {
          auto state_labels = labels;
          state_labels.push_back({"state", std::string(to_label_value(state))});
          add(std::move(state_labels), state == result.state ? 1 : 0);
        }
      } else if (auto value = spec.value(result)) {
        add(labels, *value);
      }
    }
    if (!family.metric.empty()) families.push_back(std::move(family));
  }
  return families;
}

inline std::string oracle_text(const MonitorReport& report) {
  return prometheus::TextSerializer().Serialize(oracle_families(report));
}

}  // namespace heartbeat_exporter::testing
