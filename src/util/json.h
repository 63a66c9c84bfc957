#pragma once

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <cstddef>
#include <optional>
#include <string_view>

namespace heartbeat_exporter::detail {

// Iterative parsing keeps the call stack flat however deep a hostile document nests (and the
// default MemoryPoolAllocator frees the whole tree at once instead of recursing through it);
// validating the encoding keeps text that is not UTF-8 out of label values and messages.
inline constexpr unsigned kJsonParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

struct JsonError {
  std::size_t offset;        // of the first byte that is wrong
  std::string_view message;  // RapidJSON's text, e.g. "Invalid value.", or "NUL byte"
};

// Parses text into document with kJsonParseFlags, or says where and why text is not JSON.
// JSON allows a raw NUL byte nowhere, and RapidJSON takes one for the end of its input, so any
// NUL is refused before parsing rather than left for RapidJSON to misread.
// Out of line, so that RapidJSON's parser is instantiated in one place, whatever calls it.
std::optional<JsonError> parse_json(rapidjson::Document& document, std::string_view text);

// A string value's bytes, NULs from "\u0000" included; valid as long as the document is.
inline std::string_view string_of(const rapidjson::Value& value) {
  return {value.GetString(), value.GetStringLength()};
}

}  // namespace heartbeat_exporter::detail
