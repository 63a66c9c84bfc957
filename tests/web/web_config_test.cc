#include "web/web_config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "support/run_in_child.h"
#include "support/temp_dir.h"

namespace heartbeat_exporter {
namespace {

using testing::TempDir;

constexpr const char* kHash = "$2b$10$9lXExI9bGpSCRPG9yiZy3eiwBN9IvwjKE0NkOYxmDP.mG4OHLqyHS";
const std::filesystem::path kFile = "/etc/heartbeat_exporter/web.yml";

// Joins by appending: GCC 12 warns (-Warray-bounds, a false positive fixed in GCC 13) about
// chains of std::string operator+ at -O2.
std::string users_yaml(std::string_view user_line, std::string_view tail = "") {
  std::string yaml = "basic_auth_users:\n";
  yaml += user_line;
  yaml += kHash;
  yaml += tail;
  return yaml;
}

// The error of parsing `yaml` as kFile; empty when it parsed.
std::string error_of(const std::string& yaml) {
  WebConfigResult result = parse_web_config(yaml, kFile);
  CHECK(result.config.has_value() == result.error.empty());
  return result.error;
}

TEST_CASE("a full web config gives absolute TLS paths and every user with its hash") {
  TempDir dir;
  dir.write("pki/server.crt", "certificate");
  dir.write("pki/server.key", "key");
  auto file = dir.write(
      "web.yml", std::string("tls_server_config:\n"
                             "  cert_file: pki/server.crt\n"
                             "  key_file: pki/server.key\n"
                             "basic_auth_users:\n"
                             "  alice: ") +
                     kHash +
                     "\n"
                     "  bob: '$2y$10$abcdefghijklmnopqrstuu5Mh0WAUZ0ZXb0Pzi1Z6AkN0Rq4JjX0y'\n");
  WebConfigResult result = load_web_config(file);
  INFO(result.error);
  REQUIRE(result.config);
  CHECK(result.error.empty());
  REQUIRE(result.config->tls);
  CHECK(result.config->tls->cert_file == dir / "pki/server.crt");
  CHECK(result.config->tls->key_file == dir / "pki/server.key");
  CHECK(result.config->basic_auth_users ==
        std::map<std::string, std::string>{
            {"alice", kHash},
            {"bob", "$2y$10$abcdefghijklmnopqrstuu5Mh0WAUZ0ZXb0Pzi1Z6AkN0Rq4JjX0y"}});
}

TEST_CASE("an empty web config, or one of comments only, turns nothing on") {
  for (const char* yaml : {"", "\n", "# nothing here yet\n"}) {
    INFO('"' << yaml << '"');
    WebConfigResult result = parse_web_config(yaml, kFile);
    REQUIRE(result.config);
    CHECK(result.error.empty());
    CHECK_FALSE(result.config->tls);
    CHECK(result.config->basic_auth_users.empty());
  }
}

TEST_CASE("a web config with only users turns on basic auth without TLS") {
  WebConfigResult result = parse_web_config(users_yaml("  alice: "), kFile);
  REQUIRE(result.config);
  CHECK_FALSE(result.config->tls);
  CHECK(result.config->basic_auth_users == std::map<std::string, std::string>{{"alice", kHash}});
}

TEST_CASE("a web config with only TLS turns on TLS without basic auth") {
  WebConfigResult result =
      parse_web_config("tls_server_config:\n  cert_file: /a.crt\n  key_file: /b.key\n", kFile);
  REQUIRE(result.config);
  REQUIRE(result.config->tls);
  CHECK(result.config->tls->cert_file == "/a.crt");
  CHECK(result.config->tls->key_file == "/b.key");
  CHECK(result.config->basic_auth_users.empty());
}

TEST_CASE("relative cert and key paths resolve against the web config's folder") {
  WebConfigResult result = parse_web_config(
      "tls_server_config:\n  cert_file: certs/server.crt\n  key_file: ../keys/./server.key\n",
      kFile);
  REQUIRE(result.config);
  REQUIRE(result.config->tls);
  CHECK(result.config->tls->cert_file == "/etc/heartbeat_exporter/certs/server.crt");
  CHECK(result.config->tls->key_file == "/etc/keys/server.key");
}

TEST_CASE("a relative web config path makes cert paths relative to the working folder") {
  WebConfigResult result = parse_web_config(
      "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n", "conf/web.yml");
  REQUIRE(result.config);
  REQUIRE(result.config->tls);
  CHECK(result.config->tls->cert_file == std::filesystem::current_path() / "conf/server.crt");
  CHECK(result.config->tls->key_file == std::filesystem::current_path() / "conf/server.key");
}

TEST_CASE("an unknown top-level field is an error naming the file and the field") {
  CHECK(error_of("basic_auth_user:\n  alice: x\n") ==
        "/etc/heartbeat_exporter/web.yml: basic_auth_user: unknown field");
}

TEST_CASE("http_server_config is refused as not supported rather than ignored") {
  CHECK(error_of("http_server_config:\n  http2: false\n") ==
        "/etc/heartbeat_exporter/web.yml: http_server_config: not supported by heartbeat_exporter");
}

TEST_CASE("an unknown field under tls_server_config is an error with its full path") {
  CHECK(error_of("tls_server_config:\n  cert_file: a\n  key_file: b\n  cert: c\n") ==
        "/etc/heartbeat_exporter/web.yml: tls_server_config.cert: unknown field");
}

TEST_CASE("client_ca_file and other toolkit TLS fields are refused as not supported") {
  CHECK(error_of("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: ca\n") ==
        "/etc/heartbeat_exporter/web.yml: tls_server_config.client_ca_file: not supported by "
        "heartbeat_exporter");
  CHECK(error_of("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n") ==
        "/etc/heartbeat_exporter/web.yml: tls_server_config.min_version: not supported by "
        "heartbeat_exporter");
}

TEST_CASE("tls_server_config without cert_file or key_file names the missing field") {
  CHECK(error_of("tls_server_config:\n  key_file: b\n") ==
        "/etc/heartbeat_exporter/web.yml: tls_server_config.cert_file: required field is missing");
  CHECK(error_of("tls_server_config:\n  cert_file: a\n") ==
        "/etc/heartbeat_exporter/web.yml: tls_server_config.key_file: required field is missing");
  CHECK(error_of("tls_server_config:\n  cert_file: ''\n  key_file: b\n") ==
        "/etc/heartbeat_exporter/web.yml: tls_server_config.cert_file: expected a non-empty "
        "string");
  CHECK(error_of("tls_server_config:\n") ==
        "/etc/heartbeat_exporter/web.yml: tls_server_config: expected a mapping with cert_file "
        "and key_file");
}

TEST_CASE("a password hash that is not bcrypt is refused") {
  const std::string message =
      "/etc/heartbeat_exporter/web.yml: basic_auth_users.alice: expected a bcrypt hash ($2a$, "
      "$2b$ or $2y$)";
  CHECK(error_of("basic_auth_users:\n  alice: $1$salt$qJH7.N4xYta3aEG/dfqo/0\n") == message);
  CHECK(error_of("basic_auth_users:\n  alice: s3cret\n") == message);
  CHECK(error_of("basic_auth_users:\n  alice: ''\n") ==
        "/etc/heartbeat_exporter/web.yml: basic_auth_users.alice: expected a non-empty string");
}

TEST_CASE("an empty user name or one with a colon is refused") {
  CHECK(error_of(users_yaml("  '': ", "\n")) ==
        "/etc/heartbeat_exporter/web.yml: basic_auth_users.: a user name may not be empty or "
        "contain ':'");
  CHECK(error_of(users_yaml("  'al:ice': ", "\n")) ==
        "/etc/heartbeat_exporter/web.yml: basic_auth_users.al:ice: a user name may not be empty "
        "or contain ':'");
}

TEST_CASE("a user listed twice is refused rather than one hash silently winning") {
  CHECK(error_of(users_yaml("  alice: ", "\n  alice: " + std::string(kHash) + "\n")) ==
        "/etc/heartbeat_exporter/web.yml: basic_auth_users.alice: duplicate user");
}

TEST_CASE("invalid YAML is an error naming the file and yaml-cpp's position") {
  CHECK(error_of("basic_auth_users: [alice\n") ==
        "/etc/heartbeat_exporter/web.yml: invalid YAML: yaml-cpp: error at line 2, column 1: end "
        "of sequence flow not found");
}

TEST_CASE("a web config whose top level is a list or a scalar is refused") {
  CHECK(error_of("- tls_server_config\n- basic_auth_users\n") ==
        "/etc/heartbeat_exporter/web.yml: the top level must be a mapping");
  CHECK(error_of("tls\n") == "/etc/heartbeat_exporter/web.yml: the top level must be a mapping");
}

TEST_CASE("a missing web config file is an error with the system's reason") {
  TempDir dir;
  WebConfigResult result = load_web_config(dir / "missing.yml");
  CHECK_FALSE(result.config);
  CHECK(result.error == (dir / "missing.yml").string() +
                            ": cannot read web config file: No such file or directory");
}

TEST_CASE("a FIFO as web config is not a regular file and does not block") {
  TempDir dir;
  auto fifo = dir / "web.yml";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // In a child under an alarm, so that a blocking open fails the test instead of hanging it.
  std::string error = testing::run_in_child([&] {
    ::alarm(5);
    return load_web_config(fifo).error;
  });
  CHECK(error == fifo.string() + ": not a regular file");
}

}  // namespace
}  // namespace heartbeat_exporter

namespace heartbeat_exporter {
namespace {

TEST_CASE("loading a web config whose certificate or key cannot be read is a one-line error") {
  testing::TempDir dir;
  dir.write("server.crt", "certificate");
  auto file =
      dir.write("web.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
  WebConfigResult result = load_web_config(file);
  CHECK_FALSE(result.config);
  CHECK(result.error == file.string() + ": tls_server_config.key_file: cannot read \"" +
                            (dir / "server.key").string() + "\": No such file or directory");
  dir.write("server.key", "key");
  CHECK(load_web_config(file).config);
}

}  // namespace
}  // namespace heartbeat_exporter
