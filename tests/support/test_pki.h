#pragma once

#include <filesystem>
#include <string>

namespace heartbeat_exporter::testing {

// Certificates made by the openssl command at test time, in one folder: <name>.crt and
// <name>.key. Throws std::runtime_error with openssl's output when a command fails.
class TestPki {
 public:
  explicit TestPki(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // A self-signed CA (EC P-256).
  void make_ca(const std::string& name) const;
  // A server certificate (RSA 2048, so that RSA key exchange could be chosen if it were
  // allowed) for localhost, 127.0.0.1 and ::1, signed by `ca`, with the given serial number.
  void make_server(const std::string& name, const std::string& ca, int serial = 1) const;
  // A client certificate (EC P-256, extendedKeyUsage clientAuth) signed by `ca`.
  void make_client(const std::string& name, const std::string& ca) const;

  std::filesystem::path crt(const std::string& name) const { return dir_ / (name + ".crt"); }
  std::filesystem::path key(const std::string& name) const { return dir_ / (name + ".key"); }

 private:
  void sign(const std::string& name, const std::string& ca, const std::string& new_key,
            const std::string& extensions, int serial) const;

  std::filesystem::path dir_;
};

}  // namespace heartbeat_exporter::testing
