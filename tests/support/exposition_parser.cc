#include "support/exposition_parser.h"

#include <string>

#include "support/sample_line.h"

namespace heartbeat_exporter::testing {
namespace {

prometheus::MetricFamily& family_named(std::vector<prometheus::MetricFamily>& families,
                                       std::string_view name) {
  if (families.empty() || families.back().name != name) {
    families.emplace_back();
    families.back().name = std::string(name);
    families.back().type = prometheus::MetricType::Untyped;
  }
  return families.back();
}

}  // namespace

std::vector<prometheus::MetricFamily> parse_exposition(std::string_view text) {
  std::vector<prometheus::MetricFamily> families;
  while (!text.empty()) {
    auto end = text.find('\n');
    if (end == std::string_view::npos) throw_unparsable(text, "no newline at the end");
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end + 1);
    if (line.starts_with("# HELP ")) {
      line.remove_prefix(7);
      auto space = line.find(' ');
      family_named(families, line.substr(0, space)).help =
          std::string(line.substr(space == std::string_view::npos ? line.size() : space + 1));
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      line.remove_prefix(7);
      auto space = line.find(' ');
      if (space == std::string_view::npos) throw_unparsable(line, "TYPE without a type");
      auto type = line.substr(space + 1);
      family_named(families, line.substr(0, space)).type =
          type == "counter" ? prometheus::MetricType::Counter
          : type == "gauge" ? prometheus::MetricType::Gauge
                            : prometheus::MetricType::Untyped;
      continue;
    }
    if (line.starts_with("#")) throw_unparsable(line, "unknown comment");
    SampleLine sample = parse_sample_line(line);
    auto& family = family_named(families, sample.name);
    prometheus::ClientMetric metric;
    for (auto& [name, value] : sample.labels) metric.label.push_back({name, value});
    double value = parse_sample_value(sample.value);
    if (family.type == prometheus::MetricType::Counter) {
      metric.counter.value = value;
    } else if (family.type == prometheus::MetricType::Gauge) {
      metric.gauge.value = value;
    } else {
      metric.untyped.value = value;
    }
    family.metric.push_back(std::move(metric));
  }
  return families;
}

}  // namespace heartbeat_exporter::testing
