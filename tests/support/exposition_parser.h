#pragma once

#include <prometheus/metric_family.h>

#include <string_view>
#include <vector>

namespace heartbeat_exporter::testing {

// Parses text format 0.0.4 back into families, so that tests can ask for one series' value
// without caring how it was printed. Labels keep their order; a sample's type comes from the
// family's TYPE line (counter or gauge; anything else is kept as untyped). Throws
// std::runtime_error naming the line it cannot parse. Safe to call from several threads.
std::vector<prometheus::MetricFamily> parse_exposition(std::string_view text);

}  // namespace heartbeat_exporter::testing
