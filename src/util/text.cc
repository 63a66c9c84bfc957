#include "util/text.h"

#include <charconv>
#include <system_error>

namespace heartbeat_exporter::detail {
namespace {

bool must_escape(unsigned char byte, EscapedBytes which) {
  if (byte < 0x20 || byte == 0x7f) return true;
  return which == EscapedBytes::kAllButPrintableAscii && (byte > 0x7f || byte == '\\');
}

}  // namespace

std::string quoted(const std::filesystem::path& path) { return "\"" + path.string() + "\""; }

std::string format_number(double value) {
  // The longest shortest form of a double, "-2.2250738585072014e-308", has 24 characters.
  char buffer[32];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  if (error != std::errc()) return "?";
  return std::string(buffer, end);
}

void append_hex_escape(std::string& out, std::string_view prefix, unsigned char byte) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += prefix;
  out += kHex[byte >> 4];
  out += kHex[byte & 0xf];
}

std::string escape_bytes(std::string_view text, EscapedBytes which) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (must_escape(byte, which)) {
      append_hex_escape(out, "\\x", byte);
    } else {
      out += c;
    }
  }
  return out;
}

std::string escape_for_terminal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (must_escape(byte, EscapedBytes::kControl)) {
      append_hex_escape(out, "\\x", byte);
      continue;
    }
    const auto next = static_cast<unsigned char>(i + 1 < text.size() ? text[i + 1] : 0);
    if (byte == 0xc2 && next >= 0x80 && next <= 0x9f) {
      append_hex_escape(out, "\\u00", next);
      ++i;
      continue;
    }
    out += text[i];
  }
  return out;
}

}  // namespace heartbeat_exporter::detail
