#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace heartbeat_exporter::detail {

// Field n of a /proc/<pid>/stat line, numbered from 1 as proc(5) does, for n >= 3 (state and
// after). comm, field 2, may hold spaces and ')', so fields are counted from the last ')'.
std::optional<std::string_view> proc_stat_field(std::string_view line, std::size_t n);

// The boot time that the "btime" line of /proc/stat gives, in seconds since the epoch.
std::optional<std::int64_t> proc_boot_time(std::string_view proc_stat);

}  // namespace heartbeat_exporter::detail
