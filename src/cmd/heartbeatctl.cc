// heartbeatctl: the writer side for shell scripts, cron jobs and people, and a one-shot check.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "check/checker.h"
#include "config/config.h"
#include "heartbeat/writer_detail.h"
#include "heartbeat_exporter/reader.h"
#include "heartbeat_exporter/timestamp.h"
#include "heartbeat_exporter/writer.h"
#include "util/flags.h"
#include "util/parse_integer.h"
#include "util/proc_stat.h"
#include "util/text.h"
#include "util/time_format.h"
#include "version.h"

namespace heartbeat_exporter {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr const char* kUsage =
    "usage: heartbeatctl <command> [<flags>]\n"
    "\n"
    "Commands:\n"
    "  beat   --dir DIR --key KEY [--status STATUS] [--iteration N] [--pid PID]\n"
    "         Write one heartbeat to DIR/KEY.json (atomically: temp file, then rename).\n"
    "         --pid defaults to the calling process (the shell that runs heartbeatctl),\n"
    "         --iteration to the previous heartbeat's iteration plus one. The pid's\n"
    "         namespace and start ticks are written too, where /proc tells them.\n"
    "  stop   --dir DIR --key KEY\n"
    "         Remove DIR/KEY.json, for a clean shutdown.\n"
    "  check  [--config.file FILE] [--json]\n"
    "         Check every configured process once. Exit status 0 when all are healthy,\n"
    "         1 when any is not, 2 on a usage or configuration error.\n"
    "  version\n"
    "\n"
    "Run 'heartbeatctl <command> --help' for a command's flags.\n";

int usage_error(const std::string& message, const std::string& usage) {
  std::fprintf(stderr, "heartbeatctl: error: %s\n\n%s", message.c_str(), usage.c_str());
  return kExitUsage;
}

// Reports what went wrong outside the command line (a write, a config file) and returns status.
int failure(const char* message, int status = kExitFailure) {
  std::fprintf(stderr, "heartbeatctl: %s\n", message);
  return status;
}

// Parses a subcommand's flags; returns an exit status when the command must end here.
std::optional<int> parse_flags(FlagSet& flags, int argc, char** argv) {
  if (auto error = flags.parse(argc, argv, 2)) return usage_error(*error, flags.usage());
  if (flags.help_requested()) {
    std::fputs(flags.usage().c_str(), stdout);
    return kExitOk;
  }
  return std::nullopt;
}

std::optional<int> require(const FlagSet& flags, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    if (flags.get(name).empty()) {
      return usage_error(std::string("--") + name + " is required", flags.usage());
    }
  }
  return std::nullopt;
}

// The pid namespace and start ticks of `pid`, as heartbeatctl sees it. /proc may belong to
// another pid namespace than heartbeatctl's (a container given the host's /proc), and then
// /proc/<pid> is someone else: nothing is told unless /proc/self is heartbeatctl's own pid.
detail::ProcessIdentity identity_of(std::int64_t pid) {
  std::error_code error;
  const auto self = std::filesystem::read_symlink("/proc/self", error);
  if (error || self.string() != std::to_string(::getpid())) return {};
  return detail::read_process_identity(std::filesystem::path("/proc") / std::to_string(pid));
}

int beat(int argc, char** argv) {
  FlagSet flags("heartbeatctl beat", "Write one heartbeat.");
  flags.add_string("dir", "", "Heartbeat folder (created when missing).", "DIR");
  flags.add_string("key", "", "Process key: the file is DIR/KEY.json.", "KEY");
  flags.add_string("status", "running", "Status to report; anything but running is an error.",
                   "STATUS");
  flags.add_string("iteration", "",
                   "Iteration counter (default: the previous heartbeat's plus one, or 1).", "N");
  flags.add_string("pid", "", "Process ID to report (default: the calling process).", "PID");
  if (auto exit = parse_flags(flags, argc, argv)) return *exit;
  if (auto exit = require(flags, {"dir", "key"})) return *exit;
  if (!is_valid_process_key(flags.get("key"))) {
    return usage_error("invalid --key \"" + flags.get("key") +
                           "\": want 1 to 128 of [A-Za-z0-9_.-], not starting with .",
                       flags.usage());
  }

  HeartbeatData data;
  data.process_key = flags.get("key");
  data.status = flags.get("status");
  // The shell (or cron job) that runs heartbeatctl is the process whose liveness matters.
  data.pid = getppid();
  if (flags.is_set("pid")) {
    auto pid = detail::parse_integer<std::int64_t>(flags.get("pid"));
    if (!pid || *pid < 1 || *pid > kMaxPid) {
      return usage_error("--pid must be an integer from 1 to " + std::to_string(kMaxPid),
                         flags.usage());
    }
    data.pid = *pid;
  }
  const detail::ProcessIdentity identity = identity_of(data.pid);
  data.pid_namespace = identity.pid_namespace;
  data.start_ticks = identity.start_ticks;
  std::optional<std::uint64_t> iteration;
  if (flags.is_set("iteration")) {
    iteration = detail::parse_integer<std::uint64_t>(flags.get("iteration"));
    if (!iteration) return usage_error("--iteration must be a non-negative integer", flags.usage());
  }
  try {
    // One resolution of --dir for the read and the write; see HeartbeatFolder.
    const auto folder =
        detail::HeartbeatFolder::open(flags.get("dir"), detail::HeartbeatFolder::Missing::kCreate);
    if (!iteration) {
      // A symlink planted as the heartbeat is not followed: the count starts again at 1.
      auto previous = folder.read(flags.get("key"));
      const bool counted = previous.ok() && previous.heartbeat->iteration;
      iteration = counted ? *previous.heartbeat->iteration + 1 : 1;
    }
    data.iteration = iteration;
    data.timestamp =
        std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
    folder.write(flags.get("key"), data);
  } catch (const std::exception& e) {
    return failure(e.what());
  }
  return kExitOk;
}

int stop(int argc, char** argv) {
  FlagSet flags("heartbeatctl stop", "Remove a heartbeat file.");
  flags.add_string("dir", "", "Heartbeat folder.", "DIR");
  flags.add_string("key", "", "Process key.", "KEY");
  if (auto exit = parse_flags(flags, argc, argv)) return *exit;
  if (auto exit = require(flags, {"dir", "key"})) return *exit;
  try {
    remove_heartbeat_file(flags.get("dir"), flags.get("key"));
  } catch (const std::invalid_argument& e) {
    return usage_error(e.what(), flags.usage());
  } catch (const std::exception& e) {
    return failure(e.what());
  }
  return kExitOk;
}

// The AGE column: "-" while no heartbeat has been read, like the other empty cells.
std::string format_age(const CheckResult& result) {
  return result.age_seconds ? detail::format_age(*result.age_seconds) + "s" : "-";
}

// Everything in the table may come from a file or a file name: printed raw, an escape
// sequence in a status could clear the terminal and paint a fake report.
void print_table(const MonitorReport& report) {
  using detail::escape_for_terminal;
  std::vector<std::string> keys;
  std::size_t width = 7;
  for (const auto& result : report.results) {
    keys.push_back(escape_for_terminal(result.process.key));
    width = std::max(width, keys.back().size());
  }
  std::printf("%-*s  %-12s  %9s  %8s  %-10s  %s\n", static_cast<int>(width), "PROCESS", "STATE",
              "AGE", "PID", "STATUS", "REASON");
  for (std::size_t i = 0; i < report.results.size(); ++i) {
    const CheckResult& result = report.results[i];
    std::string pid = result.heartbeat ? std::to_string(result.heartbeat->pid) : "-";
    std::string status = result.heartbeat ? escape_for_terminal(result.heartbeat->status) : "-";
    std::string reason = result.detail.empty() ? "-" : escape_for_terminal(result.detail);
    std::printf("%-*s  %-12s  %9s  %8s  %-10s  %s\n", static_cast<int>(width), keys[i].c_str(),
                std::string(to_string(result.state)).c_str(), format_age(result).c_str(),
                pid.c_str(), status.c_str(), reason.c_str());
  }
  for (const auto& error : report.discovery_errors) {
    std::printf("warning: %s\n", escape_for_terminal(error).c_str());
  }
}

void print_json(const MonitorReport& report) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> json(buffer);
  auto string = [&json](std::string_view text) {
    json.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  };
  json.StartObject();
  json.Key("all_healthy");
  json.Bool(report.all_healthy());
  json.Key("checked_at");
  string(format_timestamp(report.checked_at));
  json.Key("processes");
  json.StartArray();
  for (const auto& result : report.results) {
    json.StartObject();
    json.Key("process");
    string(result.process.key);
    json.Key("state");
    string(to_string(result.state));
    json.Key("reason");
    string(result.reason);
    json.Key("detail");
    string(result.detail);
    json.Key("heartbeat_path");
    string(result.process.heartbeat_path.string());
    json.Key("timeout_seconds");
    json.Double(result.process.timeout_seconds);
    if (result.age_seconds) {
      json.Key("age_seconds");
      json.Double(*result.age_seconds);
    }
    if (result.heartbeat) {
      json.Key("pid");
      json.Int64(result.heartbeat->pid);
      json.Key("status");
      string(result.heartbeat->status);
      json.Key("timestamp");
      string(format_timestamp(result.heartbeat->timestamp));
      if (result.heartbeat->iteration) {
        json.Key("iteration");
        json.Uint64(*result.heartbeat->iteration);
      }
    }
    json.EndObject();
  }
  json.EndArray();
  json.Key("discovery_errors");
  json.StartArray();
  for (const auto& error : report.discovery_errors) string(error);
  json.EndArray();
  json.EndObject();
  std::printf("%s\n", buffer.GetString());
}

int check(int argc, char** argv) {
  FlagSet flags("heartbeatctl check", "Check every configured process once.");
  flags.add_string("config.file", kDefaultConfigFile, "Heartbeat exporter configuration file.",
                   "FILE");
  flags.add_bool("json", "Print the result as JSON instead of a table.");
  if (auto exit = parse_flags(flags, argc, argv)) return *exit;
  ConfigResult config = load_config(flags.get("config.file"));
  if (!config.config) return failure(config.error.c_str(), kExitUsage);
  MonitorReport report = check_all_processes(*config.config);
  if (flags.get("json") == "true") {
    print_json(report);
  } else {
    print_table(report);
  }
  return report.all_healthy() ? kExitOk : kExitFailure;
}

int run(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  std::string_view command = argv[1];
  if (command == "beat") return beat(argc, argv);
  if (command == "stop") return stop(argc, argv);
  if (command == "check") return check(argc, argv);
  if (command == "version" || command == "--version") {
    std::printf("heartbeatctl, version %s (revision: %s)\n", kVersion, kRevision);
    return kExitOk;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  std::fprintf(stderr, "heartbeatctl: error: unknown command \"%s\"\n\n%s", argv[1], kUsage);
  return kExitUsage;
}

}  // namespace
}  // namespace heartbeat_exporter

int main(int argc, char** argv) {
  return heartbeat_exporter::run_main("heartbeatctl", heartbeat_exporter::run, argc, argv);
}
