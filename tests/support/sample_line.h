#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace heartbeat_exporter::testing {

// One sample line, `name{a="x",b="y"} value`, as written: views into the line, labels unescaped
// and in their order.
struct SampleLine {
  std::string_view name;
  std::vector<std::pair<std::string, std::string>> labels;
  std::string_view series;  // name and labels
  std::string_view value;   // a number, +Inf, -Inf, Nan or NaN; nothing may follow it
};

// Parses one sample line strictly (label names, escapes, no label twice, no timestamp). Throws
// std::runtime_error naming the line and what is wrong with it.
SampleLine parse_sample_line(std::string_view line);

// A sample's value as a number (+Inf, -Inf, Nan and NaN included); throws like parse_sample_line.
double parse_sample_value(std::string_view text);

// Throws the std::runtime_error the parsers throw: "cannot parse exposition line "...": what".
[[noreturn]] void throw_unparsable(std::string_view line, std::string_view what);

// The value of label `name`, or nullptr.
const std::string* label_value(const SampleLine& sample, std::string_view name);

}  // namespace heartbeat_exporter::testing
