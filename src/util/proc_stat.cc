#include "util/proc_stat.h"

#include "util/parse_integer.h"

namespace heartbeat_exporter::detail {

std::optional<std::string_view> proc_stat_field(std::string_view line, std::size_t n) {
  if (n < 3) return std::nullopt;
  const std::size_t comm_end = line.rfind(')');
  if (comm_end == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(comm_end + 1);
  std::size_t position = 0;
  for (std::size_t index = 3;; ++index) {
    position = rest.find_first_not_of(" \n", position);
    if (position == std::string_view::npos) return std::nullopt;
    const std::size_t end = rest.find_first_of(" \n", position);
    if (index == n) return rest.substr(position, end - position);
    if (end == std::string_view::npos) return std::nullopt;
    position = end;
  }
}

std::optional<std::int64_t> proc_boot_time(std::string_view proc_stat) {
  constexpr std::string_view kPrefix = "btime ";
  while (!proc_stat.empty()) {
    const std::size_t end = proc_stat.find('\n');
    const std::string_view line = proc_stat.substr(0, end);
    if (line.starts_with(kPrefix)) return parse_integer<std::int64_t>(line.substr(kPrefix.size()));
    if (end == std::string_view::npos) break;
    proc_stat.remove_prefix(end + 1);
  }
  return std::nullopt;
}

}  // namespace heartbeat_exporter::detail
