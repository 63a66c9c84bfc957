#include "support/exposition_parser.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace heartbeat_exporter::testing {
namespace {

// Not Catch2's REQUIRE: tests parse on several threads at once, and Catch2's assertion macros
// may only be used on the test's own thread.
void require(bool condition, std::string_view what, std::string_view line) {
  if (!condition) {
    throw std::runtime_error("cannot parse exposition line \"" + std::string(line) +
                             "\": " + std::string(what));
  }
}

prometheus::MetricFamily& family_named(std::vector<prometheus::MetricFamily>& families,
                                       std::string_view name) {
  if (families.empty() || families.back().name != name) {
    families.emplace_back();
    families.back().name = std::string(name);
    families.back().type = prometheus::MetricType::Untyped;
  }
  return families.back();
}

double parse_value(std::string_view text, std::string_view line) {
  if (text == "Nan" || text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (text == "+Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  std::string copy(text);
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(copy, &used);
  } catch (const std::exception&) {
    require(false, "bad value", line);
  }
  require(used == copy.size(), "bad value", line);
  return value;
}

// `name="value",...}` up to and including the closing brace; returns what follows it.
std::string_view parse_labels(std::string_view text, prometheus::ClientMetric& metric,
                              std::string_view line) {
  while (true) {
    require(!text.empty(), "unterminated labels", line);
    if (text.front() == '}') return text.substr(1);
    if (text.front() == ',') text.remove_prefix(1);
    auto equals = text.find("=\"");
    require(equals != std::string_view::npos, "label without =\"", line);
    prometheus::ClientMetric::Label label;
    label.name = std::string(text.substr(0, equals));
    text.remove_prefix(equals + 2);
    while (true) {
      require(!text.empty(), "unterminated label value", line);
      char c = text.front();
      text.remove_prefix(1);
      if (c == '"') break;
      if (c == '\\') {
        require(!text.empty(), "unterminated escape", line);
        char escaped = text.front();
        text.remove_prefix(1);
        label.value += escaped == 'n' ? '\n' : escaped;
      } else {
        label.value += c;
      }
    }
    metric.label.push_back(std::move(label));
  }
}

}  // namespace

std::vector<prometheus::MetricFamily> parse_exposition(std::string_view text) {
  std::vector<prometheus::MetricFamily> families;
  while (!text.empty()) {
    auto end = text.find('\n');
    require(end != std::string_view::npos, "no newline at the end", text);
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
      require(space != std::string_view::npos, "TYPE without a type", line);
      auto type = line.substr(space + 1);
      family_named(families, line.substr(0, space)).type =
          type == "counter" ? prometheus::MetricType::Counter
          : type == "gauge" ? prometheus::MetricType::Gauge
                            : prometheus::MetricType::Untyped;
      continue;
    }
    require(!line.starts_with("#"), "unknown comment", line);
    auto name_end = line.find_first_of("{ ");
    require(name_end != std::string_view::npos, "no value", line);
    auto& family = family_named(families, line.substr(0, name_end));
    prometheus::ClientMetric metric;
    std::string_view rest = line.substr(name_end);
    if (rest.front() == '{') rest = parse_labels(rest.substr(1), metric, line);
    require(rest.starts_with(" "), "no space before the value", line);
    double value = parse_value(rest.substr(1), line);
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
