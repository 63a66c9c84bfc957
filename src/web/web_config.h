#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace heartbeat_exporter {

struct TlsServerConfig {
  std::filesystem::path cert_file;  // absolute
  std::filesystem::path key_file;   // absolute
};

// --web.config.file, in the exporter-toolkit format that Prometheus users already know:
//
//   tls_server_config:
//     cert_file: server.crt
//     key_file: server.key
//   basic_auth_users:
//     alice: $2y$10$...   # bcrypt, e.g. from `htpasswd -nBC 10 alice`
//
// Relative paths resolve against the web config file's folder.
struct WebConfig {
  std::optional<TlsServerConfig> tls;
  std::map<std::string, std::string> basic_auth_users;  // user -> bcrypt hash
};

// Exactly one of config and error is set; error is "<file>: <field path>: <what is wrong>".
struct WebConfigResult {
  std::optional<WebConfig> config;
  std::string error;
};

WebConfigResult load_web_config(const std::filesystem::path& file);
WebConfigResult parse_web_config(const std::string& yaml, const std::filesystem::path& file);

}  // namespace heartbeat_exporter
