#include "util/json.h"

namespace heartbeat_exporter::detail {

std::optional<JsonError> parse_json(rapidjson::Document& document, std::string_view text) {
  if (const auto nul = text.find('\0'); nul != std::string_view::npos) {
    return JsonError{nul, "NUL byte"};
  }
  document.Parse<kJsonParseFlags>(text.data(), text.size());
  if (document.HasParseError()) {
    return JsonError{document.GetErrorOffset(),
                     rapidjson::GetParseError_En(document.GetParseError())};
  }
  return std::nullopt;
}

}  // namespace heartbeat_exporter::detail
