// heartbeatctl: the writer side for shell scripts, cron jobs and people, and a one-shot check.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
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
#include "util/utf8.h"
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
    "  run    --dir DIR --key KEY [--interval S] -- COMMAND [ARGS...]\n"
    "         Run a job's command (no shell) and report the run in DIR/KEY.json: \"running\"\n"
    "         with the command's pid at the start and every S seconds (default 10), then\n"
    "         \"completed\" (exit code 0) or \"failed\" with exit_code, started_at,\n"
    "         duration_seconds and last_success. Exits with the command's exit code.\n"
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

std::optional<int> require_valid_key(const FlagSet& flags) {
  if (is_valid_process_key(flags.get("key"))) return std::nullopt;
  return usage_error("invalid --key \"" + flags.get("key") +
                         "\": want 1 to 128 of [A-Za-z0-9_.-], not starting with .",
                     flags.usage());
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
  if (auto exit = require_valid_key(flags)) return *exit;

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

// heartbeatctl run: a job's command, with its run reported in heartbeats.

// As shells and env(1) report a command they cannot run, and env's code for its own failure.
constexpr int kExitCannotStart = 125;
constexpr int kExitNotExecutable = 126;
constexpr int kExitNotFound = 127;
// A beat less often than daily keeps no sensible timeout fresh.
constexpr std::int64_t kMaxIntervalSeconds = 86400;

// The exit code a shell reports for a command that ended with `status` (from waitpid).
int exit_code_of(int status) {
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

// What the wrapper changes about signals, undone in the command before it starts: SIGINT,
// SIGTERM and SIGCHLD are blocked and taken with sigtimedwait (no handler runs), and SIGCHLD
// has its default action, since an inherited SIG_IGN would reap the command unseen.
struct SignalSetup {
  sigset_t waited{};
  sigset_t original_mask{};
  struct sigaction original_sigchld {};

  SignalSetup() {
    sigemptyset(&waited);
    for (int signal : {SIGINT, SIGTERM, SIGCHLD}) sigaddset(&waited, signal);
    sigprocmask(SIG_BLOCK, &waited, &original_mask);
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &default_action, &original_sigchld);
  }
  // Only async-signal-safe calls: this runs in the child between fork and exec.
  void restore() const {
    sigaction(SIGCHLD, &original_sigchld, nullptr);
    sigprocmask(SIG_SETMASK, &original_mask, nullptr);
  }
};

// The command, forked but held before exec until `start()`, so that the "running" heartbeat
// naming its pid is written first and a failed write runs nothing.
class HeldCommand {
 public:
  HeldCommand(char** argv, const SignalSetup& signals) {
    int gate[2];
    int report[2];
    if (::pipe2(gate, O_CLOEXEC) != 0) throw_errno("creating a pipe");
    gate_ = detail::FileDescriptor(gate[1]);
    detail::FileDescriptor gate_read(gate[0]);
    if (::pipe2(report, O_CLOEXEC) != 0) throw_errno("creating a pipe");
    exec_error_ = detail::FileDescriptor(report[0]);
    detail::FileDescriptor report_write(report[1]);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw_errno("fork");
    if (pid_ == 0) {
      // The child's copies of the other ends would keep its own read from ever seeing EOF.
      ::close(gate[1]);
      ::close(report[0]);
      exec_when_released(argv, signals, parent, gate[0], report[1]);
    }
  }

  pid_t pid() const { return pid_; }

  // Lets the command exec; returns the errno of an exec that failed, or 0.
  int start() {
    char go = 1;
    while (::write(gate_.get(), &go, 1) < 0 && errno == EINTR) {
    }
    gate_ = detail::FileDescriptor();
    int error = 0;
    ssize_t got = 0;
    do {
      got = ::read(exec_error_.get(), &error, sizeof error);
    } while (got < 0 && errno == EINTR);
    return got == static_cast<ssize_t>(sizeof error) ? error : 0;
  }

  // Ends the held command without running it, and reaps it.
  void cancel() {
    gate_ = detail::FileDescriptor();
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }

 private:
  [[noreturn]] static void throw_errno(const char* what) {
    throw std::system_error(errno, std::generic_category(),
                            std::string("running the command: ") + what);
  }

  // In the child: async-signal-safe calls only, and _exit.
  [[noreturn]] static void exec_when_released(char** argv, const SignalSetup& signals, pid_t parent,
                                              int gate, int report) {
    // Killed, the wrapper could report nothing more: the command gets SIGTERM, as it would get a
    // SIGTERM sent to the wrapper. The check closes the race with a wrapper that died already.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(kExitCannotStart);
    char go = 0;
    // Nothing arrives when the wrapper cancels (or dies): the pipe just closes.
    if (::read(gate, &go, 1) != 1) ::_exit(kExitCannotStart);
    signals.restore();
    ::execvp(argv[0], argv);
    const int error = errno;
    [[maybe_unused]] const ssize_t written = ::write(report, &error, sizeof error);
    ::_exit(error == ENOENT ? kExitNotFound : kExitNotExecutable);
  }

  pid_t pid_ = -1;
  detail::FileDescriptor gate_;        // closed without a byte: the command does not run
  detail::FileDescriptor exec_error_;  // an errno from a failed exec, or EOF once exec succeeded
};

// Says why the command could not start, as a shell does ("foo: command not found").
void report_exec_error(const char* command, int error) {
  if (error == ENOENT && std::strchr(command, '/') == nullptr) {
    std::fprintf(stderr, "heartbeatctl: %s: command not found\n", command);
  } else {
    std::fprintf(stderr, "heartbeatctl: %s: %s\n", command, std::strerror(error));
  }
}

timespec until(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::max(deadline - std::chrono::steady_clock::now(),
                             std::chrono::steady_clock::duration::zero());
  const auto seconds = std::chrono::floor<std::chrono::seconds>(left);
  return {static_cast<time_t>(seconds.count()),
          static_cast<long>(std::chrono::nanoseconds(left - seconds).count())};
}

// Writes a heartbeat during the run; a failure is reported once until a write succeeds again,
// and never stops the command: a full disk must not cost the job its run.
class RunningBeats {
 public:
  RunningBeats(std::string dir, std::string key) : dir_(std::move(dir)), key_(std::move(key)) {}

  void write(const HeartbeatData& data) {
    try {
      write_heartbeat_file(dir_, key_, data);
      failing_ = false;
    } catch (const std::exception& e) {
      if (!failing_) std::fprintf(stderr, "heartbeatctl: warning: %s\n", e.what());
      failing_ = true;
    }
  }

 private:
  std::string dir_;
  std::string key_;
  bool failing_ = false;
};

// Waits for the command to end, beating every `interval` and passing SIGINT and SIGTERM on.
// Returns its waitpid status.
int supervise(pid_t child, std::chrono::seconds interval, const SignalSetup& signals,
              const std::function<void()>& beat) {
  auto next_beat = std::chrono::steady_clock::now() + interval;
  for (;;) {
    const timespec wait = until(next_beat);
    siginfo_t info{};
    const int signal = ::sigtimedwait(&signals.waited, &info, &wait);
    if (signal < 0) {
      if (errno != EAGAIN) continue;  // EINTR
      beat();
      next_beat = std::chrono::steady_clock::now() + interval;
      continue;
    }
    if (signal == SIGCHLD) {
      int status = 0;
      if (::waitpid(child, &status, WNOHANG) == child) return status;
      continue;
    }
    // Ctrl-C in a terminal signals the whole foreground group, the command included: passing
    // it on would deliver it twice.
    if (info.si_code == SI_KERNEL && ::getpgid(child) == ::getpgrp()) continue;
    ::kill(child, signal);
  }
}

int run_job(int argc, char** argv) {
  FlagSet flags("heartbeatctl run",
                "Run -- COMMAND [ARGS...] (no shell) and report the run in heartbeats.");
  flags.add_string("dir", "", "Heartbeat folder (created when missing).", "DIR");
  flags.add_string("key", "", "Process key: the file is DIR/KEY.json.", "KEY");
  flags.add_string("interval", "10",
                   "Seconds between \"running\" heartbeats while the command runs (1 to 86400).",
                   "S");
  // Everything after "--" is the command, never a flag.
  int separator = 2;
  while (separator < argc && std::string_view(argv[separator]) != "--") ++separator;
  if (separator == argc) {
    // Without "--", a command's first word would be taken for a stray argument.
    const bool help = std::any_of(
        argv + 2, argv + argc, [](const char* arg) { return std::string_view(arg) == "--help"; });
    if (help) {
      std::fputs(flags.usage().c_str(), stdout);
      return kExitOk;
    }
    return usage_error("missing \"--\" before the command to run", flags.usage());
  }
  if (auto exit = parse_flags(flags, separator, argv)) return *exit;
  if (separator + 1 == argc) return usage_error("no command after \"--\"", flags.usage());
  if (auto exit = require(flags, {"dir", "key"})) return *exit;
  if (auto exit = require_valid_key(flags)) return *exit;
  const auto interval = detail::parse_integer<std::int64_t>(flags.get("interval"));
  if (!interval || *interval < 1 || *interval > kMaxIntervalSeconds) {
    return usage_error("--interval must be a whole number of seconds from 1 to " +
                           std::to_string(kMaxIntervalSeconds),
                       flags.usage());
  }
  const std::string& dir = flags.get("dir");
  const std::string& key = flags.get("key");
  char** command = argv + separator + 1;

  ReadResult previous = ReadResult::fail(ReadError::kMissing, "");
  try {
    // A symlink planted as the heartbeat is not followed: nothing is carried forward then.
    previous =
        detail::HeartbeatFolder::open(dir, detail::HeartbeatFolder::Missing::kCreate).read(key);
  } catch (const std::exception& e) {
    return failure(e.what(), kExitCannotStart);
  }

  const SignalSetup signals;
  std::optional<HeldCommand> held;
  try {
    held.emplace(command, signals);
  } catch (const std::exception& e) {
    return failure(e.what(), kExitCannotStart);
  }
  const detail::JobRun run = detail::JobRun::start(previous);
  // The command's: fixed from its fork on, so read once.
  const detail::ProcessIdentity identity = identity_of(held->pid());
  auto heartbeat = [&] {
    HeartbeatData data;
    data.process_key = key;
    data.pid = held->pid();
    data.pid_namespace = identity.pid_namespace;
    data.start_ticks = identity.start_ticks;
    data.timestamp =
        std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
    data.status = "running";
    run.add_to(data);
    return data;
  };
  try {
    write_heartbeat_file(dir, key, heartbeat());
  } catch (const std::exception& e) {
    held->cancel();
    return failure(e.what(), kExitCannotStart);
  }
  if (const int error = held->start()) report_exec_error(command[0], error);

  RunningBeats beats(dir, key);
  const int status = supervise(held->pid(), std::chrono::seconds(*interval), signals,
                               [&] { beats.write(heartbeat()); });
  const int exit_code = exit_code_of(status);
  HeartbeatData final_heartbeat = heartbeat();
  run.finish(final_heartbeat, exit_code, std::chrono::steady_clock::now());
  try {
    write_heartbeat_file(dir, key, final_heartbeat);
  } catch (const std::exception& e) {
    // The command's code still says how it went; the heartbeat left names its gone pid.
    std::fprintf(stderr, "heartbeatctl: %s\n", e.what());
  }
  return exit_code;
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

// The optional fields of a heartbeat (namespace, run), under the names the file gives them.
template <typename Writer, typename WriteString>
void print_json_optional_fields(Writer& json, const HeartbeatData& heartbeat,
                                const WriteString& string) {
  auto number = [&json](const char* key, const std::optional<std::uint64_t>& value) {
    if (!value) return;
    json.Key(key);
    json.Uint64(*value);
  };
  auto timestamp = [&](const char* key, const std::optional<Timestamp>& value) {
    if (!value) return;
    json.Key(key);
    string(format_timestamp(*value));
  };
  number("pid_namespace", heartbeat.pid_namespace);
  number("start_ticks", heartbeat.start_ticks);
  if (heartbeat.exit_code) {
    json.Key("exit_code");
    json.Int(*heartbeat.exit_code);
  }
  timestamp("started_at", heartbeat.started_at);
  if (heartbeat.duration) {
    json.Key("duration_seconds");
    json.Double(std::chrono::duration<double>(*heartbeat.duration).count());
  }
  timestamp("last_success", heartbeat.last_success);
}

void print_json(const MonitorReport& report) {
  rapidjson::StringBuffer buffer;
  // ASCII output: every non-ASCII character is written as \uXXXX, so that no C1 control (the
  // one-byte CSI U+009B among them) from a heartbeat file reaches the terminal raw.
  rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::ASCII<>> json(buffer);
  // Paths and messages may hold bytes that are not UTF-8 (a file name is any bytes): those are
  // written as "\\xHH" text rather than making the writer stop half way.
  auto string = [&json](std::string_view text) {
    std::string escaped;
    if (!detail::is_valid_utf8(text)) {
      escaped = detail::escape_bytes(text, detail::EscapedBytes::kAllButPrintableAscii);
      text = escaped;
    }
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
      print_json_optional_fields(json, *result.heartbeat, string);
    }
    if (result.deadline_seconds) {
      json.Key("deadline_seconds");
      json.Double(*result.deadline_seconds);
    }
    if (result.process.schedule) {
      json.Key("schedule");
      string(result.process.schedule->expression());
      json.Key("timezone");
      string(result.process.schedule->time_zone_name());
      json.Key("grace_seconds");
      json.Double(result.process.grace_seconds);
    }
    if (!result.pid_check_skipped.empty()) {
      json.Key("pid_check_skipped");
      string(result.pid_check_skipped);
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
  if (command == "run") return run_job(argc, argv);
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
