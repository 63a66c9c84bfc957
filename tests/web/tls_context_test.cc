#include "web/tls_context.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/run_in_child.h"
#include "support/temp_dir.h"
#include "support/test_pki.h"

namespace heartbeat_exporter {
namespace {

using testing::TempDir;
using testing::TestPki;

// A CA, a server certificate (serial 1) signed by it and a second one (serial 2).
struct Pki {
  TempDir dir;
  TestPki pki{dir.path()};
  Pki() {
    pki.make_ca("ca");
    pki.make_server("server", "ca", 1);
    pki.make_server("other", "ca", 2);
  }
  TlsServerConfig config(const std::string& cert = "server", const std::string& key = "server") {
    TlsServerConfig tls;
    tls.cert_file = pki.crt(cert);
    tls.key_file = pki.key(key);
    return tls;
  }
};

std::string error_of(const TlsServerConfig& config) {
  TlsContext::Result result = TlsContext::create(config);
  CHECK(result.context == nullptr);
  return result.error;
}

TEST_CASE("a TLS context serves the certificate of cert_file") {
  Pki pki;
  TlsContext::Result result = TlsContext::create(pki.config());
  INFO(result.error);
  REQUIRE(result.context);
  CHECK(result.error.empty());
  CHECK(result.context->certificate_serial() == "01");
}

TEST_CASE("a certificate or key file that cannot be read is one line naming the field") {
  Pki pki;
  TlsServerConfig config = pki.config();
  config.key_file = pki.dir / "missing.key";
  CHECK(error_of(config) == "tls_server_config.key_file: cannot read \"" +
                                (pki.dir / "missing.key").string() +
                                "\": No such file or directory");
  config = pki.config();
  config.cert_file = pki.dir.path();
  CHECK(error_of(config) ==
        "tls_server_config.cert_file: \"" + pki.dir.path().string() + "\" is not a regular file");
}

TEST_CASE("a FIFO as certificate file is refused and does not block") {
  Pki pki;
  TlsServerConfig config = pki.config();
  config.cert_file = pki.dir / "fifo";
  REQUIRE(::mkfifo(config.cert_file.c_str(), 0600) == 0);
  std::string error = testing::run_in_child([&] {
    ::alarm(5);
    return TlsContext::create(config).error;
  });
  CHECK(error ==
        "tls_server_config.cert_file: \"" + config.cert_file.string() + "\" is not a regular file");
}

TEST_CASE("a key that does not belong to the certificate is refused") {
  Pki pki;
  std::string error = error_of(pki.config("server", "other"));
  CHECK(error.rfind("tls_server_config.key_file: does not match cert_file: ", 0) == 0);
}

TEST_CASE("files that hold no PEM certificate or key are refused by field") {
  Pki pki;
  auto junk = pki.dir.write("junk.pem", "not a certificate\n");
  TlsServerConfig config = pki.config();
  config.cert_file = junk;
  CHECK(error_of(config).rfind(
            "tls_server_config.cert_file: no usable PEM certificate in \"" + junk.string() + "\"",
            0) == 0);
  config = pki.config();
  config.key_file = pki.pki.crt("server");
  CHECK(error_of(config).rfind("tls_server_config.key_file: no PEM private key in \"" +
                                   pki.pki.crt("server").string() + "\"",
                               0) == 0);
  config = pki.config();
  config.client_auth = ClientAuth::kRequireAndVerifyClientCert;
  config.client_ca_file = junk;
  CHECK(error_of(config).rfind("tls_server_config.client_ca_file: no usable PEM certificate in \"" +
                                   junk.string() + "\"",
                               0) == 0);
  config.client_ca_file = pki.dir / "missing-ca.crt";
  CHECK(error_of(config).rfind("tls_server_config.client_ca_file: cannot read", 0) == 0);
}

TEST_CASE("a client CA file and every client_auth_type build") {
  Pki pki;
  auto policy =
      GENERATE(ClientAuth::kRequestClientCert, ClientAuth::kRequireAnyClientCert,
               ClientAuth::kVerifyClientCertIfGiven, ClientAuth::kRequireAndVerifyClientCert);
  TlsServerConfig config = pki.config();
  config.client_auth = policy;
  config.client_ca_file = pki.pki.crt("ca");
  TlsContext::Result result = TlsContext::create(config);
  INFO(result.error);
  CHECK(result.context);
}

TEST_CASE("an update with a bad certificate keeps the previous one, a good one replaces it") {
  Pki pki;
  TlsContext::Result result = TlsContext::create(pki.config());
  REQUIRE(result.context);
  auto error = result.context->update(pki.config("other", "server"));
  REQUIRE(error);
  CHECK(error->rfind("tls_server_config.key_file: does not match cert_file", 0) == 0);
  CHECK(result.context->certificate_serial() == "01");
  CHECK_FALSE(result.context->update(pki.config("other", "other")));
  CHECK(result.context->certificate_serial() == "02");
}

}  // namespace
}  // namespace heartbeat_exporter
