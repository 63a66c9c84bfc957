// Shared utilities, below every stage: logging (this header), flags, text, time, /proc, files.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

// The one global in the program: a leveled, structured logger writing one event per line to
// stderr, as logfmt (time=... level=info msg="..." key=value) or JSON.
namespace heartbeat_exporter::log {

enum class Level { kDebug, kInfo, kWarn, kError };
enum class Format { kLogfmt, kJson };

std::optional<Level> parse_level(std::string_view text);
std::optional<Format> parse_format(std::string_view text);

void configure(Level level, Format format);
bool enabled(Level level);

using Field = std::pair<std::string_view, std::string>;
using Fields = std::initializer_list<Field>;

void write(Level level, std::string_view message, Fields fields = {});

inline void debug(std::string_view message, Fields fields = {}) {
  write(Level::kDebug, message, fields);
}
inline void info(std::string_view message, Fields fields = {}) {
  write(Level::kInfo, message, fields);
}
inline void warn(std::string_view message, Fields fields = {}) {
  write(Level::kWarn, message, fields);
}
inline void error(std::string_view message, Fields fields = {}) {
  write(Level::kError, message, fields);
}

// Renders one event without writing it (the formatting half of write, for tests).
std::string format_event(Format format, std::string_view time, Level level,
                         std::string_view message, Fields fields);

}  // namespace heartbeat_exporter::log
