#include "heartbeat_exporter/discover.h"

#include <filesystem>
#include <map>
#include <optional>
#include <system_error>
#include <utility>

#include "util/utf8.h"

namespace heartbeat_exporter {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kHeartbeatSuffix = ".json";

// The key a file name stands for, or nullopt when the file is not a heartbeat. Names starting
// with "." are the writers' temp files; the rule also rules out ".json", whose key would be empty.
std::optional<std::string> key_of(std::string_view name) {
  if (name.starts_with(".") || !name.ends_with(kHeartbeatSuffix)) return std::nullopt;
  return std::string(name.substr(0, name.size() - kHeartbeatSuffix.size()));
}

std::string escape_bytes(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : text) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

struct Listing {
  std::vector<ProcessConfig> processes;
  std::vector<std::string> errors;
};

// Files are not stat()ed here: the reader decides what kind of file each one is, so that a
// FIFO or folder named x.json shows up as a process whose read fails rather than vanishing.
Listing list_heartbeat_dir(const HeartbeatDirConfig& dir) {
  auto fail = [&](const std::error_code& ec) {
    return Listing{{},
                   {"cannot list heartbeat folder \"" + dir.path.string() + "\": " + ec.message()}};
  };
  std::error_code ec;
  fs::directory_iterator it(dir.path, ec);
  if (ec) return fail(ec);
  Listing listing;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    auto name = it->path().filename().string();
    auto key = key_of(name);
    if (!key) continue;
    // Prometheus rejects a whole scrape whose label values are not UTF-8, and the file name
    // becomes the `process` label, so one such name must cost only itself.
    if (!detail::is_valid_utf8(*key)) {
      listing.errors.push_back("skipping heartbeat file \"" + escape_bytes(name) + "\" in \"" +
                               dir.path.string() + "\": its name is not valid UTF-8");
      continue;
    }
    listing.processes.push_back(ProcessConfig{.key = std::move(*key),
                                              .heartbeat_path = it->path(),
                                              .timeout_seconds = dir.timeout_seconds,
                                              .check_pid = dir.check_pid,
                                              .labels = dir.labels});
  }
  // A listing cut short would make the missing files look deleted, so it counts as no listing.
  if (ec) return fail(ec);
  return listing;
}

}  // namespace

Discovery discover_processes(const Config& config) {
  Discovery discovery;
  std::map<std::string, ProcessConfig> by_key;
  for (const auto& process : config.processes) by_key.try_emplace(process.key, process);
  for (const auto& dir : config.heartbeat_dirs) {
    auto listing = list_heartbeat_dir(dir);
    for (auto& error : listing.errors) discovery.errors.push_back(std::move(error));
    // try_emplace keeps the first entry for a key: configured processes and earlier folders win.
    for (auto& process : listing.processes) by_key.try_emplace(process.key, std::move(process));
  }
  discovery.processes.reserve(by_key.size());
  for (auto& [key, process] : by_key) discovery.processes.push_back(std::move(process));
  return discovery;
}

}  // namespace heartbeat_exporter
