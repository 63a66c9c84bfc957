#include "support/sample_line.h"

#include <charconv>
#include <limits>
#include <optional>
#include <stdexcept>

namespace heartbeat_exporter::testing {
namespace {

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

// Not Catch2's REQUIRE: tests parse on several threads at once, and Catch2's assertion macros
// may only be used on the test's own thread.
void require(bool condition, std::string_view what, std::string_view line) {
  if (!condition) throw_unparsable(line, what);
}

std::optional<double> to_double(std::string_view text) {
  // prometheus-cpp writes "Nan"; Prometheus reads any case.
  if (text == "Nan" || text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (text == "+Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  double value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

void throw_unparsable(std::string_view line, std::string_view what) {
  throw std::runtime_error("cannot parse exposition line \"" + std::string(line.substr(0, 200)) +
                           "\": " + std::string(what));
}

double parse_sample_value(std::string_view text) {
  auto value = to_double(text);
  if (!value) throw_unparsable(text, "value is not a number");
  return *value;
}

SampleLine parse_sample_line(std::string_view line) {
  SampleLine sample;
  std::size_t at = 0;
  require(!line.empty() && is_name_start(line[0]), "metric name expected", line);
  while (at < line.size() && is_name_char(line[at])) ++at;
  sample.name = line.substr(0, at);
  if (at < line.size() && line[at] == '{') {
    ++at;
    while (at < line.size() && line[at] != '}') {
      std::size_t name_start = at;
      require(is_name_start(line[at]), "label name expected", line);
      while (at < line.size() && is_name_char(line[at])) ++at;
      std::string label(line.substr(name_start, at - name_start));
      require(line.substr(at, 2) == "=\"", "=\" expected after label " + label, line);
      at += 2;
      std::string value;
      for (; at < line.size() && line[at] != '"'; ++at) {
        if (line[at] != '\\') {
          value += line[at];
          continue;
        }
        require(++at < line.size(), "escape at end of line", line);
        require(line[at] == 'n' || line[at] == '\\' || line[at] == '"',
                "unknown escape in label " + label, line);
        value += line[at] == 'n' ? '\n' : line[at];
      }
      require(at < line.size(), "unterminated value of label " + label, line);
      ++at;
      require(label_value(sample, label) == nullptr, "label twice: " + label, line);
      sample.labels.emplace_back(std::move(label), std::move(value));
      if (at < line.size() && line[at] == ',') ++at;
    }
    require(at < line.size(), "unterminated label set", line);
    ++at;
  }
  sample.series = line.substr(0, at);
  require(at < line.size() && line[at] == ' ', "space expected before the value", line);
  sample.value = line.substr(at + 1);
  // The exporter writes no sample timestamps, so anything after the value is garbage.
  require(to_double(sample.value).has_value(), "value is not a number", line);
  return sample;
}

const std::string* label_value(const SampleLine& sample, std::string_view name) {
  for (const auto& [label, value] : sample.labels) {
    if (label == name) return &value;
  }
  return nullptr;
}

}  // namespace heartbeat_exporter::testing
