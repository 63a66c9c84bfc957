#pragma once

// The properties the fuzz targets check on every input. Shared with replay_test.cc, which runs the
// seed corpus and every regression input through the same checks in the normal unit suite.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "check/checker.h"
#include "check/models.h"
#include "check/process_table.h"
#include "config/config.h"
#include "heartbeat_exporter/reader.h"
#include "heartbeat_exporter/timestamp.h"
#include "heartbeat_exporter/writer.h"

namespace heartbeat_exporter::fuzz {

// Each broken invariant, one line each; empty when every invariant holds.
using Violations = std::vector<std::string>;

// The clock every verdict is made at: 2026-02-05T06:18:00Z, half a minute after the seed corpus's
// heartbeats, so that seeds reach every state and not only TIMED_OUT.
inline const Timestamp kFixedNow =
    std::chrono::sys_days{std::chrono::year_month_day{std::chrono::year{2026},
                                                      std::chrono::month{2}, std::chrono::day{5}}} +
    std::chrono::hours{6} + std::chrono::minutes{18};

// When the fake table's long-running processes started: an hour before kFixedNow.
inline const Timestamp kProcessStart = kFixedNow - std::chrono::hours{1};
// Their start ticks, for heartbeats that carry start_ticks; and the initial pid namespace.
inline constexpr std::uint64_t kProcessStartTicks = 1000;
inline constexpr std::uint64_t kInitialPidNamespace = 4026531836;

inline constexpr std::string_view kConfigFile = "/etc/heartbeat_exporter/config.json";

// Every answer the process table can give, chosen by pid % 5 so that an input picks its own. Kept
// here rather than in support/fakes.h because any fuzzed pid must get one of these answers, which a
// table of listed pids cannot give.
class FuzzProcessTable final : public ProcessTable {
 public:
  ProcessInfo lookup(std::int64_t pid) const override {
    switch (pid % 5) {
      case 0:
        return {Liveness::kGone, std::nullopt};
      case 1:
        return {Liveness::kAlive, kProcessStart, kProcessStartTicks};
      case 2:
        return {Liveness::kAlive, std::nullopt};  // /proc hidden: no pid-reuse check
      case 3:
        return {Liveness::kZombie, kProcessStart, kProcessStartTicks};
      default:
        return {Liveness::kAlive, kFixedNow};  // started just now: an older heartbeat is stale
    }
  }
  // The exporter runs in the initial pid namespace; any other one's pid is found by its
  // namespace % 3: gone, alive or a zombie.
  PidNamespaceView pid_namespaces() const override { return {kInitialPidNamespace, true}; }
  std::vector<ProcessInfo> lookup_namespaced(std::span<const NamespacedPid> pids) const override {
    std::vector<ProcessInfo> infos;
    for (const auto& key : pids) {
      const Liveness liveness = key.pid_namespace % 3 == 0   ? Liveness::kGone
                                : key.pid_namespace % 3 == 1 ? Liveness::kAlive
                                                             : Liveness::kZombie;
      infos.push_back({liveness, kProcessStart, key.start_ticks});
    }
    return infos;
  }
};

// Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF), written out here so
// that the check does not share a validator with the code under test.
inline bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    std::uint32_t code = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
      code = lead & 0x1Fu;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      code = lead & 0x0Fu;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      code = lead & 0x07u;
    } else {
      return false;
    }
    if (text.size() - i < length) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0u) != 0x80u) return false;
      code = (code << 6) | (next & 0x3Fu);
    }
    const std::uint32_t smallest = length == 2 ? 0x80u : length == 3 ? 0x800u : 0x10000u;
    if (code < smallest || code > 0x10FFFFu || (code >= 0xD800u && code <= 0xDFFFu)) return false;
    i += length;
  }
  return true;
}

// Input bytes as a C++ string literal body, cut short, for violation messages.
inline std::string shown(std::string_view text) {
  constexpr std::size_t kMaxShown = 80;
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte == '"' || byte == '\\') {
      out += '\\';
      out += static_cast<char>(byte);
    } else if (byte >= 0x20 && byte < 0x7f) {
      out += static_cast<char>(byte);
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    }
  }
  if (text.size() > kMaxShown) out += "...";
  return "\"" + out + "\"";
}

inline std::string micros(Timestamp timestamp) {
  return std::to_string(timestamp.time_since_epoch().count()) + " us";
}

// What the README's state table says the verdict must be, rule by rule.
inline HealthState expected_state(const ProcessConfig& process, const ReadResult& read,
                                  Timestamp now, const ProcessTable& processes) {
  if (!read.ok()) return HealthState::kNoHeartbeat;
  const HeartbeatData& heartbeat = *read.heartbeat;
  const double age = std::chrono::duration<double>(now - heartbeat.timestamp).count();
  if (-age > process.timeout_seconds) return HealthState::kNoHeartbeat;
  const PidNamespaceView view = processes.pid_namespaces();
  const bool other_namespace = heartbeat.pid_namespace && heartbeat.pid_namespace != view.own;
  if (process.check_pid && !heartbeat.exit_code && !other_namespace) {
    const ProcessInfo info = processes.lookup(heartbeat.pid);
    if (info.liveness != Liveness::kAlive) return HealthState::kStalePid;
    if (heartbeat.start_ticks && info.start_ticks) {
      if (*heartbeat.start_ticks != *info.start_ticks) return HealthState::kStalePid;
    } else if (info.start_time && *info.start_time > heartbeat.timestamp + kStartTimeTolerance) {
      return HealthState::kStalePid;
    }
  }
  // Another namespace is checked only when the exporter sees it and start_ticks names the process.
  if (process.check_pid && !heartbeat.exit_code && other_namespace && view.sees_all && heartbeat.start_ticks) {
    const NamespacedPid key{*heartbeat.pid_namespace, heartbeat.pid, *heartbeat.start_ticks};
    if (processes.lookup_namespaced({&key, 1}).front().liveness != Liveness::kAlive) {
      return HealthState::kStalePid;
    }
  }
  if (age > process.timeout_seconds) return HealthState::kTimedOut;
  if (heartbeat.status != "running" && heartbeat.status != "completed") {
    return HealthState::kErrorStatus;
  }
  return HealthState::kHealthy;
}

inline bool same_heartbeat(const HeartbeatData& a, const HeartbeatData& b) {
  return a.process_key == b.process_key && a.pid == b.pid && a.timestamp == b.timestamp &&
         a.status == b.status && a.iteration == b.iteration && a.pid_namespace == b.pid_namespace &&
         a.start_ticks == b.start_ticks && a.exit_code == b.exit_code &&
         a.started_at == b.started_at && a.duration == b.duration &&
         a.last_success == b.last_success;
}

// format_timestamp(t) is canonical and parse_timestamp reads it back as t.
inline void check_timestamp_round_trip(Timestamp timestamp, std::string_view origin,
                                       Violations& out) {
  const std::string formatted = format_timestamp(timestamp);
  const auto reparsed = parse_timestamp(formatted);
  if (!reparsed) {
    out.push_back(std::string(origin) + ": format_timestamp(" + micros(timestamp) +
                  ") = " + shown(formatted) + " does not parse again");
    return;
  }
  if (*reparsed != timestamp) {
    out.push_back(std::string(origin) + ": format_timestamp(" + micros(timestamp) +
                  ") = " + shown(formatted) + " parses to " + micros(*reparsed));
  }
  if (formatted.size() != 32 || formatted[10] != 'T' || !formatted.ends_with("+00:00")) {
    out.push_back(std::string(origin) + ": format_timestamp(" + micros(timestamp) +
                  ") = " + shown(formatted) + " is not YYYY-MM-DDTHH:MM:SS.ffffff+00:00");
  }
}

// parse_timestamp on arbitrary text: never crashes; whatever it accepts formats and re-parses to
// the same instant; 'T' and ' ' between date and time mean the same.
inline Violations check_timestamp(std::string_view text) {
  Violations out;
  const auto parsed = parse_timestamp(text);
  if (!parsed) return out;
  check_timestamp_round_trip(*parsed, "accepted " + shown(text), out);
  if (text.size() > 10 && (text[10] == 'T' || text[10] == ' ')) {
    std::string swapped(text);
    swapped[10] = text[10] == 'T' ? ' ' : 'T';
    if (parse_timestamp(swapped) != parsed) {
      out.push_back("accepted " + shown(text) + " but not the same with the other separator");
    }
  }
  return out;
}

// What a failed parse may report: parse_heartbeat does no I/O, so never missing, unreadable,
// not_regular_file or too_large.
inline bool is_parse_error(ReadError error) {
  return error == ReadError::kInvalidJson || error == ReadError::kNotObject ||
         error == ReadError::kMissingField || error == ReadError::kInvalidField ||
         error == ReadError::kInvalidTimestamp;
}

inline void check_read(std::string_view json, const ReadResult& read, Violations& out) {
  const std::string input = "heartbeat " + shown(json);
  if (read.heartbeat.has_value() == read.failure.has_value()) {
    out.push_back(input + ": ReadResult has " +
                  (read.ok() ? "both heartbeat and failure" : "neither heartbeat nor failure"));
    return;
  }
  if (read.failure) {
    if (!is_parse_error(read.failure->reason)) {
      out.push_back(input + ": parse_heartbeat reported I/O reason " +
                    std::string(to_string(read.failure->reason)));
    }
    if (read.failure->message.empty()) out.push_back(input + ": failure without a message");
    return;
  }

  const HeartbeatData& heartbeat = *read.heartbeat;
  if (heartbeat.pid < 1 || heartbeat.pid > kMaxPid) {
    out.push_back(input + ": accepted pid " + std::to_string(heartbeat.pid));
  }
  if (heartbeat.status.size() > kMaxKeptFieldBytes ||
      heartbeat.process_key.value_or("").size() > kMaxKeptFieldBytes) {
    out.push_back(input + ": kept a status or process_key over " +
                  std::to_string(kMaxKeptFieldBytes) + " bytes");
  }
  check_timestamp_round_trip(heartbeat.timestamp, input, out);
  // Everything the reader accepts, the writer writes back and the reader reads the same.
  std::string written;
  try {
    written = serialize_heartbeat(heartbeat);
  } catch (const std::exception& error) {
    out.push_back(input + ": serialize_heartbeat threw: " + error.what());
    return;
  }
  const ReadResult reread = parse_heartbeat(written);
  if (!reread.ok()) {
    out.push_back(input + ": serialized as " + shown(written) + ", which reads back as " +
                  std::string(to_string(reread.failure->reason)) + ": " + reread.failure->message);
  } else if (!same_heartbeat(heartbeat, *reread.heartbeat)) {
    out.push_back(input + ": serialized as " + shown(written) + ", which reads back different");
  }
}

inline bool reason_fits(HealthState state, std::string_view reason) {
  switch (state) {
    case HealthState::kHealthy:
      return reason.empty();
    case HealthState::kTimedOut:
      return reason == "timed_out" || reason == "missed_schedule";
    case HealthState::kErrorStatus:
      return reason == "error_status";
    case HealthState::kStalePid:
      return reason == "process_gone" || reason == "zombie" || reason == "pid_reused";
    case HealthState::kNoHeartbeat:
      return reason == "timestamp_in_future" ||
             std::any_of(std::begin(kAllReadErrors), std::end(kAllReadErrors),
                         [reason](ReadError error) { return reason == to_string(error); });
  }
  return false;
}

inline void check_verdict(const ProcessConfig& process, const ReadResult& read,
                          const CheckResult& result, Violations& out) {
  const std::string where = "process timeout " + std::to_string(process.timeout_seconds) +
                            " check_pid " + (process.check_pid ? "true" : "false") + ": " +
                            std::string(to_string(result.state)) + " (" + result.reason + ")";
  const FuzzProcessTable processes;
  const HealthState expected = expected_state(process, read, kFixedNow, processes);
  if (result.state != expected) {
    out.push_back(where + ": expected " + std::string(to_string(expected)));
  }
  if (result.process.key != process.key ||
      result.process.heartbeat_path != process.heartbeat_path) {
    out.push_back(where + ": the verdict names another process");
  }
  if (!reason_fits(result.state, result.reason)) out.push_back(where + ": reason does not fit");
  // A skipped pid check is said in the detail whatever the state.
  const bool says_nothing =
      result.state == HealthState::kHealthy && result.pid_check_skipped.empty();
  if (says_nothing != result.detail.empty()) {
    out.push_back(where + ": detail \"" + result.detail +
                  "\" (empty iff healthy with no pid check skipped)");
  }
  if (!read.ok()) {
    if (result.state != HealthState::kNoHeartbeat || result.read_error != read.failure->reason ||
        result.reason != to_string(read.failure->reason) || result.heartbeat ||
        result.age_seconds) {
      out.push_back(where + ": a failed read must give NO_HEARTBEAT with read_error " +
                    std::string(to_string(read.failure->reason)) + " and no heartbeat or age");
    }
    return;
  }
  if (result.read_error) out.push_back(where + ": read_error set after a successful read");
  if (!result.heartbeat || !same_heartbeat(*result.heartbeat, *read.heartbeat)) {
    out.push_back(where + ": the verdict does not carry the heartbeat that was read");
  }
  const bool no_heartbeat = result.state == HealthState::kNoHeartbeat;
  if (result.age_seconds.has_value() == no_heartbeat) {
    out.push_back(where + ": age_seconds must be set iff the state is not NO_HEARTBEAT");
  }
  if (result.age_seconds) {
    const double age = std::chrono::duration<double>(kFixedNow - read.heartbeat->timestamp).count();
    if (!std::isfinite(*result.age_seconds) || *result.age_seconds != age) {
      out.push_back(where + ": age_seconds " + std::to_string(*result.age_seconds) + ", expected " +
                    std::to_string(age));
    }
  }
}

// The processes every heartbeat is judged as: the default timeout with and without the pid check,
// a cron-style long timeout, a timeout shorter than any clock skew, and one that never expires.
inline std::vector<ProcessConfig> process_variants() {
  const auto make = [](double timeout, bool check_pid) {
    return ProcessConfig{.key = "fuzzed",
                         .heartbeat_path = "/var/lib/heartbeats/fuzzed.json",
                         .timeout_seconds = timeout,
                         .check_pid = check_pid,
                         .labels = {}};
  };
  return {make(60, true), make(60, false), make(90000, true), make(0.001, true),
          make(1e300, false)};
}

// Bytes in, verdict out: parse_heartbeat, then decide_health at kFixedNow with the fake table.
inline Violations check_heartbeat(std::string_view json) {
  Violations out;
  const ReadResult read = parse_heartbeat(json);
  check_read(json, read, out);
  if (read.heartbeat.has_value() == read.failure.has_value()) return out;
  const FuzzProcessTable processes;
  for (const ProcessConfig& process : process_variants()) {
    check_verdict(process, read, decide_health(process, read, kFixedNow, processes), out);
  }
  return out;
}

// A schedule becomes label values and is searched at every scrape: its texts are printable
// ASCII, its grace is finite and not negative, and it is due again before and after any time.
inline void check_schedule(const std::string& where,
                           const std::shared_ptr<const Schedule>& schedule, double grace_seconds,
                           Violations& out) {
  if (!std::isfinite(grace_seconds) || grace_seconds < 0) {
    out.push_back(where + ": grace_seconds " + std::to_string(grace_seconds));
  }
  if (!schedule) return;
  auto printable = [](std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
      return c == ' ' || c == '\t' || (c > ' ' && c < 0x7f);
    });
  };
  if (!printable(schedule->expression()) || !printable(schedule->time_zone_name())) {
    out.push_back(where + ": schedule " + shown(schedule->expression()) + " in " +
                  shown(std::string(schedule->time_zone_name())) + " is not printable ASCII");
  }
  const Timestamp t = std::chrono::sys_days{std::chrono::year{2026} / 2 / 5};
  auto next = schedule->next_after(t);
  auto latest = schedule->latest_at_or_before(t);
  if (!next || *next <= t || !latest || *latest > t) {
    out.push_back(where + ": schedule " + shown(schedule->expression()) +
                  " has no due time after or none at or before 2026-02-05");
  }
}

inline void check_labels(const std::string& where, const Labels& labels, Violations& out) {
  for (const auto& [name, value] : labels) {
    if (!is_valid_static_label_name(name)) out.push_back(where + ": label name " + shown(name));
    if (value.empty() || !is_valid_utf8(value)) {
      out.push_back(where + ": label value " + shown(value) + " is empty or not UTF-8");
    }
  }
}

inline void check_timeout(const std::string& where, double timeout, Violations& out) {
  if (!std::isfinite(timeout) || timeout <= 0) {
    out.push_back(where + ": timeout " + std::to_string(timeout) + " is not finite and > 0");
  }
}

// parse_config on arbitrary text: exactly one of config and error; an error is one line that
// names the file; a config holds only what validation promises.
inline Violations check_config(std::string_view json) {
  Violations out;
  const std::string input = "config " + shown(json);
  const ConfigResult result = parse_config(json, std::filesystem::path(kConfigFile));
  if (result.config.has_value() == !result.error.empty()) {
    out.push_back(input + ": ConfigResult has " +
                  (result.config ? "both config and error" : "neither config nor error"));
    return out;
  }
  if (!result.config) {
    if (result.error.find_first_of("\r\n") != std::string::npos) {
      out.push_back(input + ": error is not one line: " + shown(result.error));
    }
    if (!result.error.starts_with(std::string(kConfigFile) + ": ")) {
      out.push_back(input + ": error does not start with the file: " + shown(result.error));
    }
    return out;
  }

  const Config& config = *result.config;
  if (config.file != kConfigFile) out.push_back(input + ": config.file is " + config.file.string());
  check_timeout(input + ": default_timeout_seconds", config.default_timeout_seconds, out);
  for (std::size_t i = 0; i < config.processes.size(); ++i) {
    const ProcessConfig& process = config.processes[i];
    const std::string where = input + ": process " + shown(process.key);
    if (i > 0 && !(config.processes[i - 1].key < process.key)) {
      out.push_back(where + ": processes not sorted by key, or a key repeats");
    }
    // The key becomes the `process` label value, and Prometheus refuses a scrape that is not UTF-8.
    if (process.key.empty() || !is_valid_utf8(process.key)) {
      out.push_back(where + ": key is empty or not UTF-8");
    }
    if (!process.heartbeat_path.is_absolute() || process.heartbeat_path.empty()) {
      out.push_back(where + ": heartbeat_path " + shown(process.heartbeat_path.string()) +
                    " is not absolute");
    }
    check_timeout(where, process.timeout_seconds, out);
    check_labels(where, process.labels, out);
    check_schedule(where, process.schedule, process.grace_seconds, out);
  }
  for (std::size_t i = 0; i < config.heartbeat_dirs.size(); ++i) {
    const HeartbeatDirConfig& dir = config.heartbeat_dirs[i];
    const std::string where = input + ": heartbeat_dirs[" + std::to_string(i) + "]";
    if (!dir.path.is_absolute()) {
      out.push_back(where + ": path " + shown(dir.path.string()) + " is not absolute");
    }
    check_timeout(where, dir.timeout_seconds, out);
    check_labels(where, dir.labels, out);
    check_schedule(where, dir.schedule, dir.grace_seconds, out);
  }
  return out;
}

// For the fuzz targets: a broken invariant is a crash, so that libFuzzer saves the input.
inline void abort_on_violations(const Violations& violations) {
  if (violations.empty()) return;
  for (const std::string& violation : violations) {
    std::fprintf(stderr, "invariant broken: %s\n", violation.c_str());
  }
  std::abort();
}

}  // namespace heartbeat_exporter::fuzz
