#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace heartbeat_exporter {

// Microseconds since the Unix epoch, UTC. Python's datetime has microsecond resolution, and a
// 64-bit count of microseconds spans every year a heartbeat can name without overflow.
using Timestamp = std::chrono::sys_time<std::chrono::microseconds>;

// Parses the timestamps that Python's datetime.isoformat() and str(datetime) write:
//   YYYY-MM-DDTHH:MM:SS or YYYY-MM-DD HH:MM:SS, then an optional fraction of 1 to 9 digits
//   (digits past the sixth are truncated), then an optional offset Z, +HH:MM, -HH:MM, +HHMM
//   or -HHMM. Without an offset the time is UTC. Dates that do not exist are rejected.
// Independent of TZ and the locale. Returns nullopt for anything else.
std::optional<Timestamp> parse_timestamp(std::string_view text);

// Formats as UTC with microseconds and "+00:00", e.g. "2026-02-05T06:17:29.601049+00:00",
// which is what Python's datetime.now(timezone.utc).isoformat() writes.
std::string format_timestamp(Timestamp timestamp);

// Seconds since the Unix epoch, as Prometheus wants timestamps in sample values.
double to_unix_seconds(Timestamp timestamp);

}  // namespace heartbeat_exporter
