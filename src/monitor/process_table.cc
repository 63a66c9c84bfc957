#include "heartbeat_exporter/process_table.h"

#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include "heartbeat_exporter/reader.h"
#include "util/bounded_file.h"

namespace heartbeat_exporter {
namespace {

// /proc/<pid>/stat is one line of about 300 bytes (comm is at most 16 bytes); anything that
// does not fit is not a stat line we understand.
constexpr std::size_t kMaxPidStatBytes = 4096;

// starttime is field 22 of /proc/<pid>/stat and state is field 3, the first after comm.
constexpr std::size_t kStartTimeIndexAfterComm = 22 - 3;

// Far beyond any real uptime and far below what would overflow a Timestamp.
constexpr std::uint64_t kMaxUptimeSeconds = 1000ULL * 366 * 24 * 3600;

struct PidStat {
  char state = '?';
  std::uint64_t start_ticks = 0;
};

template <typename Integer>
std::optional<Integer> parse_integer(std::string_view text) {
  Integer value{};
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// comm may contain spaces and ')', so the fields start after the last ')' in the line.
std::optional<PidStat> parse_pid_stat(std::string_view line) {
  std::size_t comm_end = line.rfind(')');
  if (comm_end == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(comm_end + 1);

  PidStat stat;
  std::size_t index = 0;
  std::size_t position = 0;
  while (true) {
    position = rest.find_first_not_of(" \n", position);
    if (position == std::string_view::npos) return std::nullopt;
    std::size_t end = rest.find_first_of(" \n", position);
    std::string_view field = rest.substr(position, end - position);
    if (index == 0) {
      if (field.size() != 1) return std::nullopt;
      stat.state = field[0];
    } else if (index == kStartTimeIndexAfterComm) {
      auto ticks = parse_integer<std::uint64_t>(field);
      if (!ticks) return std::nullopt;
      stat.start_ticks = *ticks;
      return stat;
    }
    if (end == std::string_view::npos) return std::nullopt;
    position = end;
    ++index;
  }
}

// btime is read once; wall-clock steps after that are corrected for in lookup().
std::optional<Timestamp> read_boot_time(const std::filesystem::path& proc_stat) {
  std::ifstream in(proc_stat);
  std::string line;
  constexpr std::string_view kPrefix = "btime ";
  while (std::getline(in, line)) {
    if (!line.starts_with(kPrefix)) continue;
    auto seconds = parse_integer<std::int64_t>(std::string_view(line).substr(kPrefix.size()));
    if (!seconds) return std::nullopt;
    return Timestamp{std::chrono::seconds{*seconds}};
  }
  return std::nullopt;
}

// The wall clock minus the time since boot: constant unless someone steps the wall clock.
std::chrono::microseconds realtime_minus_boottime() {
  timespec real{}, boot{};
  ::clock_gettime(CLOCK_REALTIME, &real);
  ::clock_gettime(CLOCK_BOOTTIME, &boot);
  auto to_micros = [](const timespec& t) {
    return std::chrono::seconds{t.tv_sec} + std::chrono::duration_cast<std::chrono::microseconds>(
                                                std::chrono::nanoseconds{t.tv_nsec});
  };
  return to_micros(real) - to_micros(boot);
}

}  // namespace

SystemProcessTable::SystemProcessTable(std::filesystem::path proc_root)
    : proc_root_(std::move(proc_root)),
      boot_time_(read_boot_time(proc_root_ / "stat")),
      clock_ticks_per_second_(::sysconf(_SC_CLK_TCK)),
      realtime_minus_boottime_(realtime_minus_boottime()) {}

ProcessInfo SystemProcessTable::lookup(std::int64_t pid) const {
  if (pid < 1 || pid > kMaxPid) return {Liveness::kGone, std::nullopt};
  // Signal 0 only asks whether the pid exists; EPERM means it does, under another user.
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
    return {Liveness::kGone, std::nullopt};
  }

  // Without a readable stat (hidepid, no /proc) only liveness is known, never a wrong verdict.
  auto file =
      detail::read_bounded_file(proc_root_ / std::to_string(pid) / "stat", kMaxPidStatBytes);
  if (file.status != detail::BoundedFile::Status::kOk) return {Liveness::kAlive, std::nullopt};
  auto stat = parse_pid_stat(file.content);
  if (!stat) return {Liveness::kAlive, std::nullopt};

  if (stat->state == 'X') return {Liveness::kGone, std::nullopt};
  Liveness liveness = stat->state == 'Z' ? Liveness::kZombie : Liveness::kAlive;
  if (!boot_time_ || clock_ticks_per_second_ <= 0) return {liveness, std::nullopt};

  // Whole seconds and the remainder apart, so that no tick count can overflow.
  auto ticks_per_second = static_cast<std::uint64_t>(clock_ticks_per_second_);
  if (stat->start_ticks / ticks_per_second > kMaxUptimeSeconds) return {liveness, std::nullopt};
  auto seconds =
      std::chrono::seconds{static_cast<std::int64_t>(stat->start_ticks / ticks_per_second)};
  auto fraction = std::chrono::microseconds{static_cast<std::int64_t>(
      stat->start_ticks % ticks_per_second * 1'000'000 / ticks_per_second)};
  // btime was read at startup; if the wall clock has been stepped since (NTP at boot), start
  // times move with it, or a live process would look like it started after its heartbeat.
  auto step = std::chrono::round<std::chrono::seconds>(realtime_minus_boottime() -
                                                       realtime_minus_boottime_);
  return {liveness, *boot_time_ + step + seconds + fraction};
}

Timestamp SystemClock::now() const {
  return std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
}

}  // namespace heartbeat_exporter
