#include "util/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "util/text.h"
#include "util/time_format.h"

namespace heartbeat_exporter::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};
std::atomic<Format> g_format{Format::kLogfmt};
std::mutex g_write_mutex;

std::string_view level_name(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

bool needs_logfmt_quotes(std::string_view value) {
  if (value.empty()) return true;
  for (unsigned char c : value) {
    if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c >= 0x7f) return true;
  }
  return false;
}

// Escapes for both a logfmt quoted value and a JSON string: the two agree on \" \\ \n \t.
void append_escaped(std::string& out, std::string_view value) {
  for (unsigned char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          detail::append_hex_escape(out, "\\u00", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

void append_logfmt_pair(std::string& out, std::string_view key, std::string_view value) {
  if (!out.empty()) out += ' ';
  out += key;
  out += '=';
  if (!needs_logfmt_quotes(value)) {
    out += value;
    return;
  }
  out += '"';
  append_escaped(out, value);
  out += '"';
}

void append_json_pair(std::string& out, std::string_view key, std::string_view value) {
  out += out.size() > 1 ? ",\"" : "\"";
  append_escaped(out, key);
  out += "\":\"";
  append_escaped(out, value);
  out += '"';
}

}  // namespace

std::optional<Level> parse_level(std::string_view text) {
  if (text == "debug") return Level::kDebug;
  if (text == "info") return Level::kInfo;
  if (text == "warn") return Level::kWarn;
  if (text == "error") return Level::kError;
  return std::nullopt;
}

std::optional<Format> parse_format(std::string_view text) {
  if (text == "logfmt") return Format::kLogfmt;
  if (text == "json") return Format::kJson;
  return std::nullopt;
}

void configure(Level level, Format format) {
  g_level.store(level);
  g_format.store(format);
}

bool enabled(Level level) { return level >= g_level.load(); }

std::string format_event(Format format, std::string_view time, Level level,
                         std::string_view message, Fields fields) {
  std::string out;
  // The same keys in the same order in either format.
  auto append_pairs = [&](auto append_pair) {
    append_pair(out, "time", time);
    append_pair(out, "level", level_name(level));
    append_pair(out, "msg", message);
    for (const auto& [key, value] : fields) append_pair(out, key, value);
  };
  if (format == Format::kJson) {
    out = "{";
    append_pairs(append_json_pair);
    out += '}';
  } else {
    append_pairs(append_logfmt_pair);
  }
  out += '\n';
  return out;
}

void write(Level level, std::string_view message, Fields fields) {
  if (!enabled(level)) return;
  auto now = std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
  std::string line =
      format_event(g_format.load(), detail::format_rfc3339(now), level, message, fields);
  std::lock_guard lock(g_write_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace heartbeat_exporter::log
