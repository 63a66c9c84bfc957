#include "web/web_config.h"

#include <openssl/ssl.h>
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

// tls_server_config with cert_file, key_file and `extra` (lines indented by two spaces).
std::string tls_yaml(const std::string& extra) {
  return "tls_server_config:\n  cert_file: /a.crt\n  key_file: /b.key\n" + extra;
}

TlsServerConfig tls_of(const std::string& extra) {
  WebConfigResult result = parse_web_config(tls_yaml(extra), kFile);
  INFO(result.error);
  REQUIRE(result.config);
  REQUIRE(result.config->tls);
  return *result.config->tls;
}

std::string tls_error_of(const std::string& extra) { return error_of(tls_yaml(extra)); }

const std::string kPrefix = "/etc/heartbeat_exporter/web.yml: tls_server_config.";

TEST_CASE(
    "tls_server_config defaults to TLS 1.2 to 1.3, forward-secret AEAD suites, no client "
    "certificate and Go's curves") {
  TlsServerConfig tls = tls_of("");
  CHECK(tls.min_version == TlsVersion::kTls12);
  CHECK(tls.max_version == TlsVersion::kTls13);
  CHECK(tls.client_auth == ClientAuth::kNoClientCert);
  CHECK(tls.client_ca_file.empty());
  CHECK(tls.prefer_server_cipher_suites);
  CHECK(tls.cipher_suites ==
        std::vector<std::string>{"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
                                 "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
                                 "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"});
  CHECK(tls.groups == std::vector<std::string>{"X25519", "P-256", "P-384", "P-521"});
}

TEST_CASE("every client_auth_type of exporter-toolkit maps to its policy") {
  auto [name, policy] = GENERATE(table<std::string, ClientAuth>(
      {{"NoClientCert", ClientAuth::kNoClientCert},
       {"RequestClientCert", ClientAuth::kRequestClientCert},
       {"RequireAnyClientCert", ClientAuth::kRequireAnyClientCert},
       {"RequireClientCert", ClientAuth::kRequireAnyClientCert},
       {"VerifyClientCertIfGiven", ClientAuth::kVerifyClientCertIfGiven},
       {"RequireAndVerifyClientCert", ClientAuth::kRequireAndVerifyClientCert}}));
  INFO(name);
  CHECK(tls_of("  client_auth_type: " + name + "\n").client_auth == policy);
}

TEST_CASE("an empty client_auth_type is NoClientCert, as in exporter-toolkit") {
  CHECK(tls_of("  client_auth_type: ''\n").client_auth == ClientAuth::kNoClientCert);
  CHECK(tls_of("  client_auth_type:\n").client_auth == ClientAuth::kNoClientCert);
}

TEST_CASE("an unknown client_auth_type is refused with the values there are") {
  CHECK(tls_error_of("  client_auth_type: RequireAndVerify\n") ==
        kPrefix +
            "client_auth_type: unknown value \"RequireAndVerify\"; want one of NoClientCert, "
            "RequestClientCert, RequireAnyClientCert, RequireClientCert, "
            "VerifyClientCertIfGiven, RequireAndVerifyClientCert");
}

TEST_CASE("client_ca_file resolves against the web config's folder") {
  TlsServerConfig tls = tls_of(
      "  client_ca_file: ca/clients.crt\n"
      "  client_auth_type: RequireAndVerifyClientCert\n");
  CHECK(tls.client_ca_file == "/etc/heartbeat_exporter/ca/clients.crt");
}

TEST_CASE("client_ca_file without a client_auth_type that asks for certificates is refused") {
  const std::string message = kPrefix +
                              "client_ca_file: set while client_auth_type is NoClientCert, which "
                              "asks for no client certificate";
  CHECK(tls_error_of("  client_ca_file: ca.crt\n") == message);
  CHECK(tls_error_of("  client_ca_file: ca.crt\n  client_auth_type: NoClientCert\n") == message);
}

TEST_CASE("min_version and max_version take TLS10 to TLS13") {
  auto [name, version] = GENERATE(table<std::string, TlsVersion>({{"TLS10", TlsVersion::kTls10},
                                                                  {"TLS11", TlsVersion::kTls11},
                                                                  {"TLS12", TlsVersion::kTls12},
                                                                  {"TLS13", TlsVersion::kTls13}}));
  INFO(name);
  // Below TLS 1.2 only the CBC suites work, so those versions need one named.
  CHECK(
      tls_of("  min_version: " + name + "\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]\n")
          .min_version == version);
  CHECK(tls_of("  max_version: " + name +
               "\n  min_version: TLS10\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]\n")
            .max_version == version);
}

TEST_CASE("an unknown TLS version is refused with the versions there are") {
  for (const char* bad : {"TLS14", "TLS1.2", "tls12", "SSL30", "12"}) {
    INFO(bad);
    CHECK(tls_error_of(std::string("  min_version: ") + bad + "\n") ==
          kPrefix + "min_version: unknown value \"" + bad +
              "\"; want one of TLS10, TLS11, TLS12, TLS13");
    CHECK(tls_error_of(std::string("  max_version: ") + bad + "\n") ==
          kPrefix + "max_version: unknown value \"" + bad +
              "\"; want one of TLS10, TLS11, TLS12, TLS13");
  }
}

TEST_CASE("max_version below min_version is refused") {
  CHECK(tls_error_of("  min_version: TLS13\n  max_version: TLS12\n") ==
        kPrefix + "max_version: TLS12 is below min_version TLS13");
}

TEST_CASE("TLS 1.0 or 1.1 without a CBC suite is refused: the AEAD suites need TLS 1.2") {
  CHECK(tls_error_of("  min_version: TLS10\n") ==
        kPrefix + "min_version: TLS10 needs a CBC suite in cipher_suites; the others need TLS 1.2");
  CHECK(tls_error_of("  min_version: TLS11\n"
                     "  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n") ==
        kPrefix + "min_version: TLS11 needs a CBC suite in cipher_suites; the others need TLS 1.2");
}

// OpenSSL's own name for the suite whose IANA name, which is Go's, is `standard`.
std::string openssl_name_of(const std::string& standard) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0");
  std::string name;
  STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(ctx);
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* cipher = sk_SSL_CIPHER_value(ciphers, i);
    if (standard == SSL_CIPHER_standard_name(cipher)) name = SSL_CIPHER_get_name(cipher);
  }
  SSL_CTX_free(ctx);
  return name;
}

TEST_CASE("every TLS 1.2 name of Go's tls.CipherSuites() maps to that suite in OpenSSL, in order") {
  // Go's names are the IANA names, which OpenSSL knows too: it is the judge of the mapping.
  const std::string go =
      GENERATE("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
               "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
               "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
               "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
               "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
               "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");
  INFO(go);
  const std::string openssl = openssl_name_of(go);
  REQUIRE_FALSE(openssl.empty());
  CHECK(tls_of("  cipher_suites:\n  - " + go + "\n  - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n")
            .cipher_suites == std::vector<std::string>{openssl, "ECDHE-RSA-AES256-GCM-SHA384"});
}

TEST_CASE("the default suites are the forward-secret AEAD ones OpenSSL knows for TLS 1.2") {
  for (const auto& suite : kDefaultTls12CipherSuites) {
    INFO(suite);
    CHECK(suite.rfind("ECDHE-", 0) == 0);
    CHECK(
        (suite.find("-GCM-") != std::string::npos || suite.find("CHACHA20") != std::string::npos));
    SSL_CTX* ctx = SSL_CTX_new(TLS_method());
    CHECK(SSL_CTX_set_cipher_list(ctx, suite.c_str()) == 1);
    SSL_CTX_free(ctx);
  }
}

TEST_CASE("TLS 1.3 suite names are accepted and change nothing, as in Go") {
  CHECK(tls_of("  cipher_suites:\n  - TLS_AES_128_GCM_SHA256\n  - TLS_AES_256_GCM_SHA384\n"
               "  - TLS_CHACHA20_POLY1305_SHA256\n  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n")
            .cipher_suites == std::vector<std::string>{"ECDHE-RSA-AES128-GCM-SHA256"});
  CHECK(tls_of("  min_version: TLS13\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n")
            .cipher_suites.empty());
  CHECK(tls_error_of("  cipher_suites: [TLS_AES_128_GCM_SHA256]\n") ==
        kPrefix +
            "cipher_suites: only TLS 1.3 suites, which cannot be chosen, while min_version "
            "allows TLS12");
}

TEST_CASE("an empty cipher_suites or curve_preferences keeps the defaults, as in Go") {
  TlsServerConfig tls = tls_of("  cipher_suites: []\n  curve_preferences:\n");
  CHECK(tls.cipher_suites == kDefaultTls12CipherSuites);
  CHECK(tls.groups == kDefaultTlsGroups);
}

TEST_CASE("Go's insecure suites and unknown names are refused, naming the suite") {
  for (const char* bad :
       {"TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA",
        "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ALL"}) {
    INFO(bad);
    CHECK(tls_error_of(std::string("  cipher_suites: [") + bad + "]\n") ==
          kPrefix + "cipher_suites: unknown name \"" + bad + "\"");
  }
  CHECK(tls_error_of("  cipher_suites: TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n") ==
        kPrefix + "cipher_suites: expected a list of names");
  CHECK(tls_error_of("  cipher_suites: [[TLS_AES_128_GCM_SHA256]]\n") ==
        kPrefix + "cipher_suites: expected a non-empty string");
}

TEST_CASE("every Go curve name maps to its OpenSSL group, in the order given") {
  CHECK(tls_of("  curve_preferences: [CurveP521, CurveP384, CurveP256, X25519]\n").groups ==
        std::vector<std::string>{"P-521", "P-384", "P-256", "X25519"});
  for (const char* bad : {"P-256", "X448", "X25519MLKEM768", "curvep256"}) {
    INFO(bad);
    CHECK(tls_error_of(std::string("  curve_preferences: [") + bad + "]\n") ==
          kPrefix + "curve_preferences: unknown name \"" + bad + "\"");
  }
}

TEST_CASE("prefer_server_cipher_suites takes YAML booleans and nothing else") {
  CHECK_FALSE(tls_of("  prefer_server_cipher_suites: false\n").prefer_server_cipher_suites);
  CHECK(tls_of("  prefer_server_cipher_suites: true\n").prefer_server_cipher_suites);
  CHECK_FALSE(tls_of("  prefer_server_cipher_suites: no\n").prefer_server_cipher_suites);
  for (const char* bad : {"maybe", "2", "[true]", "''"}) {
    INFO(bad);
    CHECK(tls_error_of(std::string("  prefer_server_cipher_suites: ") + bad + "\n") ==
          kPrefix + "prefer_server_cipher_suites: expected true or false");
  }
}

TEST_CASE("inline certificates, client_allowed_sans and unknown TLS fields are refused by name") {
  for (const char* field : {"cert", "key", "client_ca", "client_allowed_sans"}) {
    INFO(field);
    CHECK(tls_error_of(std::string("  ") + field + ": x\n") ==
          kPrefix + field + ": not supported by heartbeat_exporter");
  }
  CHECK(tls_error_of("  min_versions: TLS13\n") == kPrefix + "min_versions: unknown field");
}

TEST_CASE("a TLS field of the wrong type is refused by name") {
  CHECK(tls_error_of("  client_ca_file: [a, b]\n  client_auth_type: RequireAnyClientCert\n") ==
        kPrefix + "client_ca_file: expected a non-empty string");
  CHECK(tls_error_of("  min_version: {v: TLS12}\n") ==
        kPrefix + "min_version: expected a non-empty string");
  CHECK(error_of("tls_server_config: [cert_file]\n") ==
        "/etc/heartbeat_exporter/web.yml: tls_server_config: expected a mapping");
}

}  // namespace
}  // namespace heartbeat_exporter
