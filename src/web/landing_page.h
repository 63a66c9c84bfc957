#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "check/models.h"

namespace heartbeat_exporter {

// Escapes text for HTML element content and attribute values.
std::string html_escape(std::string_view text);

// The landing page lists at most this many processes, so that its size is bounded by this, not
// by how many heartbeat files there are (/metrics has every one).
inline constexpr std::size_t kMaxLandingPageRows = 1000;

// The page at "/": name, version, a link to the telemetry path, how many processes are in each
// state, and one row per process with its state, reason, age, pid and status: every process that
// is not healthy first, then the healthy ones (each in report order), at most max_rows of them,
// then a line saying how many are not shown. Everything that came from a file or the config is
// escaped.
std::string render_landing_page(const MonitorReport& report, std::string_view telemetry_path,
                                std::size_t max_rows = kMaxLandingPageRows);

}  // namespace heartbeat_exporter
