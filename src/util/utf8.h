#pragma once

#include <rapidjson/encodings.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/stringbuffer.h>

#include <string_view>

namespace heartbeat_exporter::detail {

// RapidJSON 1.1.0 decodes a lone low surrogate escape such as "\udc00" into bytes that are not
// UTF-8 (Tencent/rapidjson#1738), so strings taken from a parsed document are checked again.
inline bool is_valid_utf8(std::string_view text) {
  rapidjson::MemoryStream stream(text.data(), text.size());
  rapidjson::StringBuffer ignored;
  while (stream.Tell() < text.size()) {
    if (!rapidjson::UTF8<>::Validate(stream, ignored)) return false;
  }
  return true;
}

}  // namespace heartbeat_exporter::detail
