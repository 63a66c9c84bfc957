// heartbeat_exporter: serves the health of every configured process to Prometheus.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "check/process_table.h"
#include "config/config.h"
#include "metrics/collector.h"
#include "metrics/reloader.h"
#include "util/flags.h"
#include "util/log.h"
#include "util/parse_integer.h"
#include "version.h"
#include "web/tls_context.h"
#include "web/web_config.h"
#include "web/web_server.h"

namespace heartbeat_exporter {
namespace {

// 10180: the 9100-9999 block of Prometheus's default port allocations is taken; see README.
constexpr const char* kDefaultListenAddress = ":10180";

FlagSet make_flags() {
  FlagSet flags(
      "heartbeat_exporter",
      "Reads the JSON heartbeat files of monitored processes on every scrape and exports\n"
      "each process's health state, heartbeat age and iteration counter to Prometheus.");
  flags.add_string("config.file", kDefaultConfigFile, "Heartbeat exporter configuration file.",
                   "FILE");
  flags.add_repeated_string("web.listen-address", kDefaultListenAddress,
                            "Addresses on which to expose metrics and the web interface. "
                            "Repeatable for multiple addresses; :PORT is IPv4 and IPv6.",
                            "[HOST]:PORT");
  flags.add_string("web.telemetry-path", "/metrics", "Path under which to expose metrics.", "PATH");
  flags.add_string("log.level", "info",
                   "Only log messages with the given severity or above. One of: [debug, info, "
                   "warn, error]",
                   "LEVEL");
  flags.add_string("log.format", "logfmt", "Output format of log messages. One of: [logfmt, json]",
                   "FORMAT");
  flags.add_string("web.config.file", "",
                   "Path to a configuration file that can enable TLS or basic authentication "
                   "(exporter-toolkit format).",
                   "FILE");
  flags.add_string("web.max-connections", std::to_string(kDefaultMaxConnections),
                   "Connections served at once, one thread each; more wait to be accepted.", "N");
  flags.add_bool("web.enable-lifecycle",
                 "Enable reloading the configuration via HTTP (POST /-/reload).");
  flags.add_bool("version", "Show application version and exit.");
  return flags;
}

std::string version_line() {
  return std::string("heartbeat_exporter, version ") + kVersion + " (revision: " + kRevision + ")";
}

// Loads the config and logs its error; nullptr when it is invalid.
std::shared_ptr<const Config> load(const std::string& file) {
  ConfigResult result = load_config(file);
  if (!result.config) {
    log::error("invalid configuration", {{"err", result.error}});
    return nullptr;
  }
  return std::make_shared<const Config>(std::move(*result.config));
}

// As Go programs do at start: the process table keeps a pidfd per watched process, every
// connection takes a descriptor, and a service manager's soft limit (1024 under systemd) is far
// below what a job-runner host needs. Returns the limit in force.
rlim_t raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    const rlim_t old = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) limit.rlim_cur = old;
  }
  return limit.rlim_cur;
}

// How many connections the web server may serve at once: --web.max-connections, unless the open
// file limit allows fewer. Each connection takes a descriptor and its worker an eventfd, and
// civetweb neither starts with too few (it crashes) nor serves well when accept() fails with
// EMFILE (its listening thread spins); the rest is for listening sockets, the log, heartbeat
// files being read and the pidfds of watched processes.
unsigned connection_limit(unsigned wanted, rlim_t open_files) {
  constexpr rlim_t kOtherDescriptors = 256;
  const rlim_t allowed =
      open_files > kOtherDescriptors + 2 ? (open_files - kOtherDescriptors) / 2 : 1;
  if (allowed >= wanted) return wanted;
  log::warn(
      "the open file limit allows fewer connections than --web.max-connections; serving fewer",
      {{"open_files_limit", std::to_string(open_files)},
       {"max_connections", std::to_string(wanted)},
       {"serving", std::to_string(allowed)}});
  return static_cast<unsigned>(allowed);
}

// Parses and checks the command line and sets up logging. Returns the exit status when the
// program should stop here (--help, --version, a usage error), nullopt to go on.
std::optional<int> parse_command_line(FlagSet& flags, int argc, char** argv) {
  auto usage_error = [&flags](const std::string& message) {
    std::fprintf(stderr, "heartbeat_exporter: error: %s\n\n%s", message.c_str(),
                 flags.usage().c_str());
    return 2;
  };
  if (auto error = flags.parse(argc, argv)) return usage_error(*error);
  if (flags.help_requested()) {
    std::fputs(flags.usage().c_str(), stdout);
    return 0;
  }
  if (flags.get("version") == "true") {
    std::printf("%s\n", version_line().c_str());
    return 0;
  }
  auto level = log::parse_level(flags.get("log.level"));
  if (!level) return usage_error("--log.level must be one of debug, info, warn, error");
  auto format = log::parse_format(flags.get("log.format"));
  if (!format) return usage_error("--log.format must be one of logfmt, json");
  log::configure(*level, *format);
  const auto max_connections = detail::parse_integer<unsigned>(flags.get("web.max-connections"));
  if (!max_connections || *max_connections == 0 || *max_connections > kMaxConnectionsCeiling) {
    return usage_error("--web.max-connections must be a whole number from 1 to " +
                       std::to_string(kMaxConnectionsCeiling));
  }
  const std::string& telemetry_path = flags.get("web.telemetry-path");
  if (telemetry_path.empty() || telemetry_path.front() != '/' || telemetry_path == "/" ||
      telemetry_path.rfind("/-/", 0) == 0) {
    std::fprintf(stderr,
                 "heartbeat_exporter: error: --web.telemetry-path must start with / and may not "
                 "be / or under /-/, got \"%s\"\n",
                 telemetry_path.c_str());
    return 2;
  }
  return std::nullopt;
}

// Blocks the signals that the main thread waits for. Every thread started later inherits the
// mask, so that only sigwait() sees them.
sigset_t block_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return signals;
}

// Waits for signals until SIGTERM or SIGINT.
int wait_for_signals(const sigset_t& signals, ConfigReloader& reloader) {
  for (;;) {
    int signal_number = 0;
    if (sigwait(&signals, &signal_number) != 0) continue;
    if (signal_number == SIGHUP) {
      reloader.reload();
      continue;
    }
    log::info("shutting down", {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
    return 0;
  }
}

// The web config and what it turns on: TLS settings and basic auth users. When error is set
// (naming the file and the field), nothing else is.
struct WebSetup {
  WebConfig config;
  std::shared_ptr<TlsContext> tls;
  std::string error;
};

// Loads --web.config.file, certificates included.
WebSetup load_web_setup(const std::string& file) {
  WebSetup setup;
  if (file.empty()) return setup;
  WebConfigResult result = load_web_config(file);
  if (!result.config) return {{}, nullptr, result.error};
  setup.config = std::move(*result.config);
  if (setup.config.tls) {
    TlsContext::Result tls = TlsContext::create(*setup.config.tls);
    if (!tls.context) return {{}, nullptr, file + ": " + tls.error};
    setup.tls = std::move(tls.context);
  }
  return setup;
}

// Re-reads --web.config.file on a reload: the TLS settings for new connections and the basic
// auth users. The listeners stay as they are, so turning TLS on or off needs a restart.
std::optional<std::string> reload_web_config(const std::string& file, TlsContext* tls,
                                             WebServer* server) {
  if (file.empty()) return std::nullopt;
  if (server == nullptr) return file + ": the web server is not started yet";
  WebConfigResult result = load_web_config(file);
  if (!result.config) return result.error;
  if (result.config->tls.has_value() != (tls != nullptr)) {
    return file + ": tls_server_config: turning TLS " + (tls ? "off" : "on") + " needs a restart";
  }
  if (tls != nullptr) {
    if (auto error = tls->update(*result.config->tls)) return file + ": " + *error;
  }
  server->set_basic_auth_users(result.config->basic_auth_users);
  log::info("web configuration reloaded",
            {{"web_config", file},
             {"basic_auth", result.config->basic_auth_users.empty() ? "off" : "on"}});
  return std::nullopt;
}

int run(int argc, char** argv) {
  FlagSet flags = make_flags();
  if (auto exit_status = parse_command_line(flags, argc, argv)) return *exit_status;
  const std::string& telemetry_path = flags.get("web.telemetry-path");
  const std::string& config_file = flags.get("config.file");
  const std::string& web_config_file = flags.get("web.config.file");
  auto config = load(config_file);
  if (!config) return 1;
  WebSetup web_setup = load_web_setup(web_config_file);
  if (!web_setup.error.empty()) {
    log::error("invalid web configuration", {{"err", web_setup.error}});
    return 1;
  }

  const sigset_t signals = block_signals();
  const rlim_t open_files = raise_open_file_limit();
  // glibc gives each thread that allocates under contention its own arena (up to 8 per core),
  // and each arena keeps the peak of the scrapes it served; the reading and rendering threads
  // do not need more than the cores there are.
  ::mallopt(M_ARENA_MAX, static_cast<int>(std::max(2U, std::thread::hardware_concurrency())));
  SystemClock clock;
  SystemProcessTable process_table;
  auto collector = std::make_shared<HeartbeatCollector>(
      config, clock, process_table, CheckerOptions{.threads = 0, .reuse_unchanged_files = true});
  // Declared before the reloader and the server, which use it until they are destroyed; the
  // server goes first, since its requests use the reloader.
  std::shared_ptr<TlsContext> tls = web_setup.tls;
  std::atomic<WebServer*> started_server{nullptr};
  ConfigReloader reloader(config_file, *collector, collector->self_metrics(), [&] {
    return reload_web_config(web_config_file, tls.get(), started_server.load());
  });
  WebOptions web{flags.get_all("web.listen-address"),
                 telemetry_path,
                 {},
                 web_setup.config.basic_auth_users,
                 tls};
  web.max_connections = connection_limit(
      *detail::parse_integer<unsigned>(flags.get("web.max-connections")), open_files);
  if (flags.get("web.enable-lifecycle") == "true")
    web.reload = [&reloader] { return reloader.reload(); };
  std::unique_ptr<WebServer> server;
  try {
    server = std::make_unique<WebServer>(web, collector);
  } catch (const std::exception& e) {
    log::error("cannot start web server", {{"err", e.what()}});
    return 1;
  }
  started_server = server.get();
  log::info("starting heartbeat_exporter",
            {{"version", kVersion},
             {"revision", kRevision},
             {"config", config_file},
             {"address", server->listening_address()},
             {"tls", tls ? "on" : "off"},
             {"basic_auth", web_setup.config.basic_auth_users.empty() ? "off" : "on"},
             {"telemetry_path", telemetry_path},
             {"processes", std::to_string(config->processes.size())},
             {"heartbeat_dirs", std::to_string(config->heartbeat_dirs.size())}});
  log::info("serving connections", {{"max_connections", std::to_string(server->max_connections())},
                                    {"open_files_limit", std::to_string(open_files)}});
  warn_about_writable_heartbeat_dirs(*config);
  return wait_for_signals(signals, reloader);
}

}  // namespace
}  // namespace heartbeat_exporter

int main(int argc, char** argv) {
  return heartbeat_exporter::run_main("heartbeat_exporter", heartbeat_exporter::run, argc, argv);
}
