#pragma once

#include <chrono>
#include <string>

namespace heartbeat_exporter::detail {

// An instant as RFC 3339 in UTC with microseconds and "+00:00", e.g.
// "2026-02-05T06:17:29.601049+00:00": the one spelling of a time in heartbeat files, messages
// and log lines. Independent of TZ and the locale.
std::string format_rfc3339(std::chrono::sys_time<std::chrono::microseconds> time);

// A number of seconds to a tenth, e.g. "95.3", without a unit: the one spelling of an age in
// check details, the landing page and heartbeatctl's table.
std::string format_age(double seconds);

}  // namespace heartbeat_exporter::detail
