#pragma once

#include <string>
#include <string_view>

#include "check/models.h"

namespace heartbeat_exporter {

// Escapes text for HTML element content and attribute values.
std::string html_escape(std::string_view text);

// The page at "/": name, version, a link to the telemetry path and one row per process with its
// state, reason, age, pid and status. Everything that came from a file or the config is escaped.
std::string render_landing_page(const MonitorReport& report, std::string_view telemetry_path);

}  // namespace heartbeat_exporter
