#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "check/models.h"

namespace heartbeat_exporter {

// The per-process families, in the order they are exposed. Both report_to_metric_families and
// render_process_families take their names, help texts and types from here.
struct ProcessFamily {
  std::string_view name;
  std::string_view help;
  bool counter = false;  // a gauge otherwise
};
inline constexpr std::array<ProcessFamily, 6> kProcessFamilies = {{
    {"heartbeat_state",
     "Health state of a monitored process: 1 for its current state, 0 for the others."},
    {"heartbeat_age_seconds",
     "Seconds since the process's last heartbeat (now minus its timestamp)."},
    {"heartbeat_last_timestamp_seconds", "Unix time of the process's last heartbeat."},
    {"heartbeat_iteration_total", "Iteration counter reported in the process's last heartbeat.",
     true},
    {"heartbeat_timeout_seconds", "Configured heartbeat timeout of the process."},
    {"heartbeat_pid", "Process ID reported in the process's last heartbeat."},
}};

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

// Renders the per-process families of a report (heartbeat_state, heartbeat_age_seconds,
// heartbeat_last_timestamp_seconds, heartbeat_iteration_total, heartbeat_timeout_seconds,
// heartbeat_pid) in the text format 0.0.4, byte for byte what
// prometheus::TextSerializer().Serialize(report_to_metric_families(report)) writes: the same
// series, labels, escaping, HELP and TYPE lines and number formatting, and no family that has
// no series. `threads` > 1 renders ranges of processes in parallel; 0 counts as 1.
// Each family is a piece of HELP and TYPE followed by pieces of its series: one per
// `processes_per_piece` processes (the last may hold fewer), or with 0 one per thread used.
// Pieces without a series are left out, so no piece is empty.
ExpositionText render_process_families(const MonitorReport& report, unsigned threads,
                                       std::size_t processes_per_piece = 0);

}  // namespace heartbeat_exporter
