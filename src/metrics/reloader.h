#pragma once

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "metrics/collector.h"

namespace heartbeat_exporter {

// When the exporter runs as root, logs one warning per heartbeat folder that users other than
// root can write to: whoever can write there chooses what root opens and reads. Called at start
// and after each successful reload.
void warn_about_writable_heartbeat_dirs(const Config& config);

// Re-reads the config file (on SIGHUP or POST /-/reload) and hands it to the collector. A file
// that fails to load leaves the running config in place. Scrapes in flight keep the config they
// started with, since the collector swaps a shared_ptr.
class ConfigReloader {
 public:
  // Reloads another file with the same reload (the web config); returns the error that kept
  // its previous content, or nullopt.
  using ReloadHook = std::function<std::optional<std::string>()>;

  // `registry` receives heartbeat_exporter_config_last_reload_successful and
  // heartbeat_exporter_config_last_reload_success_timestamp_seconds; the initial load counts
  // as a successful reload, as in Prometheus. A reload is successful when the config file and
  // `also_reload` both are; each keeps its previous content on its own failure.
  ConfigReloader(std::filesystem::path file, HeartbeatCollector& collector,
                 prometheus::Registry& registry, ReloadHook also_reload = {});

  // Returns the error that kept the old config, or nullopt when the new one is in use.
  std::optional<std::string> reload();

 private:
  std::optional<std::string> reload_config();

  std::filesystem::path file_;
  HeartbeatCollector& collector_;
  ReloadHook also_reload_;
  prometheus::Gauge& last_successful_;
  prometheus::Gauge& last_success_time_;
  std::mutex mutex_;  // one reload at a time, so two racing reloads cannot interleave
};

}  // namespace heartbeat_exporter
