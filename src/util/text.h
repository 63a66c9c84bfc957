#pragma once

#include <filesystem>
#include <string>
#include <string_view>

// How paths, numbers and untrusted bytes are spelled in error messages and log lines.
namespace heartbeat_exporter::detail {

// A path as messages name it: between double quotes and otherwise as it is, e.g.
// "/var/lib/heartbeats/a.json".
std::string quoted(const std::filesystem::path& path);

// A number as it was configured: the shortest text that reads back as the same double, e.g.
// "60", "2.5" or "inf", never "60.000000".
std::string format_number(double value);

// Appends prefix and then byte as two lowercase hex digits, e.g. "\x1b" or "\u001b".
void append_hex_escape(std::string& out, std::string_view prefix, unsigned char byte);

// Which bytes escape_bytes spells as "\xHH"; every other byte is copied as it is.
enum class EscapedBytes {
  // C0 controls and DEL: keeps a message on one line and leaves UTF-8 text readable.
  kControl,
  // Everything but printable ASCII, and the backslash so that "\xHH" stays unambiguous: for
  // names that may not be UTF-8 at all.
  kAllButPrintableAscii,
};

std::string escape_bytes(std::string_view text, EscapedBytes which);

// UTF-8 text for a terminal: C0 controls and DEL as "\xHH", and the C1 controls U+0080..U+009F
// (which terminals also obey: U+009B is CSI) as "\u00HH", so that text from a file can neither
// move the cursor, nor clear the screen, nor set the window title.
std::string escape_for_terminal(std::string_view text);

}  // namespace heartbeat_exporter::detail
