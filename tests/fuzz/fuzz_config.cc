// parse_config on arbitrary text: one-line errors, and only validated configs.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/invariants.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  heartbeat_exporter::fuzz::abort_on_violations(heartbeat_exporter::fuzz::check_config(input));
  return 0;
}
