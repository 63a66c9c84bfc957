#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "support/subprocess.h"
#include "support/temp_dir.h"
#include "support/test_pki.h"

namespace heartbeat_exporter::testing {

// A line every scrape of TlsFixture's config holds.
inline constexpr const char* kNoHeartbeatLine =
    "\nheartbeat_state{process=\"gone\",state=\"no_heartbeat\"} 1\n";

// A heartbeat config whose one process has no heartbeat file, a CA and a server certificate
// (serial 1) signed by it, and a web config naming them by relative paths, with `tls_extra`
// lines under tls_server_config and `users` (a basic_auth_users block) after it.
struct TlsFixture {
  TempDir dir;
  TestPki pki{dir.path()};
  std::filesystem::path config =
      dir.write("config.json", R"({"processes": {"gone": {"heartbeat_path": "hb/gone.json"}}})");
  std::filesystem::path web_config;

  explicit TlsFixture(const std::string& tls_extra = "", const std::string& users = "");
  void write_web_config(const std::string& tls_extra, const std::string& users = "");
  std::string ca() const { return pki.crt("ca").string(); }
};

// The built exporter on 127.0.0.1 (unless `flags` say otherwise) with the fixture's web config.
class TlsExporter {
 public:
  explicit TlsExporter(const TlsFixture& fixture, std::vector<std::string> flags = {});
  int port() const { return exporter_.port(); }
  Subprocess& process() { return exporter_.process(); }
  // https://localhost:<port><path>
  std::string url(const std::string& path = "/metrics") const;

 private:
  Exporter exporter_;
};

// curl --silent --show-error --max-time 10 with `args`.
RunResult curl(std::vector<std::string> args);

// A TCP connection to 127.0.0.1:port; -1 when it cannot connect.
int connect_to(int port);

}  // namespace heartbeat_exporter::testing
