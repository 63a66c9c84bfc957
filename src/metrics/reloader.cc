#include "metrics/reloader.h"

#include <unistd.h>

#include <chrono>
#include <memory>
#include <utility>

#include "config/config.h"
#include "discover/discover.h"
#include "util/log.h"

namespace heartbeat_exporter {
namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

void warn_about_writable_heartbeat_dirs(const Config& config) {
  if (::geteuid() != 0) return;
  for (const auto& dir : config.heartbeat_dirs) {
    if (auto why = writable_by_others(dir.path)) {
      log::warn(
          "heartbeat folder is writable by users other than root while the exporter runs as "
          "root; run it as an unprivileged user",
          {{"dir", dir.path.string()}, {"why", *why}});
    }
  }
}

ConfigReloader::ConfigReloader(std::filesystem::path file, HeartbeatCollector& collector,
                               prometheus::Registry& registry, ReloadHook also_reload)
    : file_(std::move(file)),
      collector_(collector),
      also_reload_(std::move(also_reload)),
      last_successful_(prometheus::BuildGauge()
                           .Name("heartbeat_exporter_config_last_reload_successful")
                           .Help("Whether the last configuration reload attempt was successful.")
                           .Register(registry)
                           .Add({})),
      last_success_time_(
          prometheus::BuildGauge()
              .Name("heartbeat_exporter_config_last_reload_success_timestamp_seconds")
              .Help("Timestamp of the last successful configuration reload.")
              .Register(registry)
              .Add({})) {
  last_successful_.Set(1);
  last_success_time_.Set(unix_now());
}

std::optional<std::string> ConfigReloader::reload() {
  std::lock_guard lock(mutex_);
  log::info("reloading configuration", {{"config", file_.string()}});
  std::optional<std::string> error = reload_config();
  if (also_reload_) {
    if (auto other = also_reload_()) {
      log::error("reloading configuration failed; keeping the previous one", {{"err", *other}});
      error = error ? *error + "; " + *other : *other;
    }
  }
  if (error) {
    last_successful_.Set(0);
    return error;
  }
  last_successful_.Set(1);
  last_success_time_.Set(unix_now());
  return std::nullopt;
}

std::optional<std::string> ConfigReloader::reload_config() {
  ConfigResult result = load_config(file_);
  if (!result.config) {
    log::error("reloading configuration failed; keeping the previous one", {{"err", result.error}});
    return result.error;
  }
  auto config = std::make_shared<const Config>(std::move(*result.config));
  collector_.set_config(config);
  log::info("configuration reloaded",
            {{"processes", std::to_string(config->processes.size())},
             {"heartbeat_dirs", std::to_string(config->heartbeat_dirs.size())}});
  warn_about_writable_heartbeat_dirs(*config);
  return std::nullopt;
}

}  // namespace heartbeat_exporter
