#pragma once

#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>

namespace heartbeat_exporter::detail {

// The whole of text as an Integer in decimal, or nullopt when it is empty, has anything else
// (spaces, a '+', trailing bytes, a '-' for an unsigned type) or does not fit. Independent of
// the locale.
template <typename Integer>
std::optional<Integer> parse_integer(std::string_view text) {
  Integer value{};
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace heartbeat_exporter::detail
