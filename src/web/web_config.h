#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace heartbeat_exporter {

enum class TlsVersion { kTls10, kTls11, kTls12, kTls13 };

// exporter-toolkit's client_auth_type values, which are Go's tls.ClientAuthType.
enum class ClientAuth {
  kNoClientCert,
  kRequestClientCert,           // asks for a certificate, accepts any or none
  kRequireAnyClientCert,        // wants a certificate, does not verify it
  kVerifyClientCertIfGiven,     // verifies a certificate when one is sent
  kRequireAndVerifyClientCert,  // wants a certificate that verifies
};

// The OpenSSL names of the default suites for TLS 1.2: forward-secret AEAD only (ECDHE with
// AES-GCM or ChaCha20-Poly1305), stricter than Go's defaults, which still offer ECDHE with CBC.
extern const std::vector<std::string> kDefaultTls12CipherSuites;
// The OpenSSL names of the default groups: Go's default curve preferences.
extern const std::vector<std::string> kDefaultTlsGroups;

// tls_server_config, with Go's names already mapped to OpenSSL's.
struct TlsServerConfig {
  std::filesystem::path cert_file;       // absolute
  std::filesystem::path key_file;        // absolute
  std::filesystem::path client_ca_file;  // absolute; empty when not set
  ClientAuth client_auth = ClientAuth::kNoClientCert;
  TlsVersion min_version = TlsVersion::kTls12;
  TlsVersion max_version = TlsVersion::kTls13;
  // Suites for TLS 1.2 and below, in preference order. TLS 1.3's suites cannot be chosen, as in
  // Go: their names are accepted in cipher_suites and change nothing.
  std::vector<std::string> cipher_suites = kDefaultTls12CipherSuites;
  bool prefer_server_cipher_suites = true;
  std::vector<std::string> groups = kDefaultTlsGroups;  // curve_preferences

  bool operator==(const TlsServerConfig&) const = default;
};

// --web.config.file, in the exporter-toolkit format that Prometheus users already know:
//
//   tls_server_config:
//     cert_file: server.crt
//     key_file: server.key
//   basic_auth_users:
//     alice: $2y$10$...   # bcrypt, e.g. from `htpasswd -nBC 10 alice`
//
// Relative paths resolve against the web config file's folder. The certificate and key files
// are not read here: TlsContext reads them (web/tls_context.h).
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
