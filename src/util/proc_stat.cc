#include "util/proc_stat.h"

#include <unistd.h>

#include <algorithm>
#include <array>

#include "util/bounded_file.h"
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

std::optional<std::uint64_t> proc_start_ticks(std::string_view stat_line) {
  const auto field = proc_stat_field(stat_line, 22);
  if (!field) return std::nullopt;
  return parse_integer<std::uint64_t>(*field);
}

std::optional<std::uint64_t> parse_namespace_link(std::string_view target) {
  constexpr std::string_view kPrefix = "pid:[";
  if (!target.starts_with(kPrefix) || !target.ends_with(']')) return std::nullopt;
  return parse_integer<std::uint64_t>(
      target.substr(kPrefix.size(), target.size() - kPrefix.size() - 1));
}

std::optional<std::uint64_t> read_pid_namespace(const std::filesystem::path& proc_pid_dir) {
  // "pid:[" and 20 digits and "]" fit; a longer target is not a namespace link.
  std::array<char, 32> target{};
  const auto link = proc_pid_dir / "ns" / "pid";
  const ssize_t size = ::readlink(link.c_str(), target.data(), target.size());
  if (size <= 0 || static_cast<std::size_t>(size) >= target.size()) return std::nullopt;
  return parse_namespace_link(std::string_view(target.data(), static_cast<std::size_t>(size)));
}

ProcessIdentity read_process_identity(const std::filesystem::path& proc_pid_dir) {
  ProcessIdentity identity;
  identity.pid_namespace = read_pid_namespace(proc_pid_dir);
  const auto stat = read_bounded_file(proc_pid_dir / "stat", kMaxPidStatBytes);
  if (stat.status == BoundedFile::Status::kOk)
    identity.start_ticks = proc_start_ticks(stat.content);
  return identity;
}

std::optional<NamespacedPids> proc_status_nspid(std::string_view status) {
  constexpr std::string_view kPrefix = "NSpid:";
  std::size_t at = status.starts_with(kPrefix) ? 0 : status.find("\nNSpid:");
  if (at == std::string_view::npos) return std::nullopt;
  if (at != 0) ++at;
  std::string_view line = status.substr(at + kPrefix.size());
  line = line.substr(0, line.find('\n'));
  NamespacedPids pids;
  while (true) {
    const std::size_t start = line.find_first_not_of(" \t");
    if (start == std::string_view::npos) break;
    line.remove_prefix(start);
    const std::size_t end = std::min(line.find_first_of(" \t"), line.size());
    const auto pid = parse_integer<std::int64_t>(line.substr(0, end));
    if (!pid || *pid < 1) return std::nullopt;
    pids.innermost = *pid;
    ++pids.depth;
    line.remove_prefix(end);
  }
  if (pids.depth == 0) return std::nullopt;
  return pids;
}

}  // namespace heartbeat_exporter::detail
