#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>

namespace heartbeat_exporter::detail {

// Field n of a /proc/<pid>/stat line, numbered from 1 as proc(5) does, for n >= 3 (state and
// after). comm, field 2, may hold spaces and ')', so fields are counted from the last ')'.
std::optional<std::string_view> proc_stat_field(std::string_view line, std::size_t n);

// The boot time that the "btime" line of /proc/stat gives, in seconds since the epoch.
std::optional<std::int64_t> proc_boot_time(std::string_view proc_stat);

// /proc/<pid>/stat is one line of about 300 bytes (comm is at most 16 bytes); anything that
// does not fit is not a stat line we understand.
inline constexpr std::size_t kMaxPidStatBytes = 4096;

// /proc/<pid>/status is about 1.5 KiB; room for a long NSpid line and future fields.
inline constexpr std::size_t kMaxPidStatusBytes = 16 * 1024;

// The inode of the initial pid namespace (PROC_PID_INIT_INO), fixed in the kernel.
inline constexpr std::uint64_t kInitialPidNamespace = 4026531836;

// The start time of a /proc/<pid>/stat line, field 22: clock ticks since boot.
std::optional<std::uint64_t> proc_start_ticks(std::string_view stat_line);

// The inode of a namespace link's target, "pid:[4026531836]" -> 4026531836.
std::optional<std::uint64_t> parse_namespace_link(std::string_view target);

// The pid namespace of the process whose /proc folder is `proc_pid_dir` (/proc/self,
// /proc/<pid>): readlink of its ns/pid. Unknown without ptrace rights over that process.
std::optional<std::uint64_t> read_pid_namespace(const std::filesystem::path& proc_pid_dir);

// Who holds a pid, as a heartbeat tells it (see HeartbeatData); either part may be unknown.
struct ProcessIdentity {
  std::optional<std::uint64_t> pid_namespace;
  std::optional<std::uint64_t> start_ticks;
};

// Reads both of the process whose /proc folder is `proc_pid_dir`.
ProcessIdentity read_process_identity(const std::filesystem::path& proc_pid_dir);

// The NSpid line of /proc/<pid>/status: the pid in each pid namespace from the one /proc was
// mounted in to the process's own. `depth` is how many there are; 1 means the process is in
// /proc's own namespace.
struct NamespacedPids {
  std::size_t depth = 0;
  std::int64_t innermost = 0;
};
std::optional<NamespacedPids> proc_status_nspid(std::string_view status);

}  // namespace heartbeat_exporter::detail
