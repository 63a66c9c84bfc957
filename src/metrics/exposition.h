#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "check/models.h"

namespace heartbeat_exporter {

// The text of one scrape, in pieces that concatenate to the exposition. Pieces let threads each
// write their own part and let the server send or compress them without joining them first.
struct ExpositionText {
  std::vector<std::string> pieces;

  std::size_t size() const;
  std::string joined() const;
};

// Appends a sample value exactly as prometheus-cpp 1.0.1's TextSerializer writes it: "Nan",
// "+Inf", "-Inf", otherwise printf's "%.16g" (1, 0, -0, 1.5, 1e+21, 1700000000.123456).
void append_sample_value(std::string& out, double value);

// Renders the per-process families of a report (kProcessFamilies) in the text format 0.0.4,
// byte for byte what prometheus-cpp's TextSerializer writes for the same families (the tests
// compare the two): the same series, labels, escaping, HELP and TYPE lines and number
// formatting, and no family that has no series. `threads` > 1 renders ranges of processes in
// parallel; 0 counts as 1. Each family is a piece of HELP and TYPE followed by pieces of its
// series: one per `processes_per_piece` processes (the last may hold fewer), or with 0 one per
// thread used. Pieces without a series are left out, so no piece is empty.
ExpositionText render_process_families(const MonitorReport& report, unsigned threads,
                                       std::size_t processes_per_piece = 0);

}  // namespace heartbeat_exporter
