// Bytes in, verdict out: the heartbeat reader and the health decision on arbitrary file content.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/invariants.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  heartbeat_exporter::fuzz::abort_on_violations(heartbeat_exporter::fuzz::check_heartbeat(input));
  return 0;
}
