#include "web/tls_context.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "support/fakes.h"
#include "support/run_in_child.h"
#include "support/temp_dir.h"
#include "support/test_pki.h"
#include "web/web_server.h"

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

// A client context trusting the test CA, presenting `client_cert` when it is not empty;
// nullptr when OpenSSL refuses the files.
SSL_CTX* client_context(const Pki& pki, const std::string& client_cert = "") {
  SSL_CTX* client = SSL_CTX_new(TLS_client_method());
  bool ok = client != nullptr &&
            SSL_CTX_load_verify_locations(client, pki.pki.crt("ca").c_str(), nullptr) == 1;
  if (ok && !client_cert.empty()) {
    ok = SSL_CTX_use_certificate_file(client, pki.pki.crt(client_cert).c_str(),
                                      SSL_FILETYPE_PEM) == 1 &&
         SSL_CTX_use_PrivateKey_file(client, pki.pki.key(client_cert).c_str(),
                                     SSL_FILETYPE_PEM) == 1;
  }
  if (!ok) {
    SSL_CTX_free(client);
    return nullptr;
  }
  SSL_CTX_set_verify(client, SSL_VERIFY_PEER, nullptr);
  return client;
}

// One TLS connection to 127.0.0.1:port trusting `ca`: the serial of the certificate served
// (-1 when the handshake failed), after GET /-/healthy answered 200 (else -2).
long handshake_and_get(int port, SSL_CTX* client) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  long result = -1;
  SSL* ssl = SSL_new(client);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      SSL_set_fd(ssl, fd) == 1 && SSL_connect(ssl) == 1) {
    X509* cert = SSL_get1_peer_certificate(ssl);
    result = cert != nullptr ? ASN1_INTEGER_get(X509_get0_serialNumber(cert)) : -1;
    X509_free(cert);
    static constexpr char kRequest[] = "GET /-/healthy HTTP/1.0\r\n\r\n";
    char buffer[64] = {};
    if (SSL_write(ssl, kRequest, sizeof kRequest - 1) <= 0 ||
        SSL_read(ssl, buffer, sizeof buffer - 1) <= 0 ||
        std::string(buffer).rfind("HTTP/1.1 200", 0) != 0) {
      result = -2;
    }
  }
  SSL_free(ssl);
  ERR_clear_error();
  close(fd);
  return result;
}

TEST_CASE(
    "handshakes on several threads while the settings are swapped each get one whole "
    "certificate",
    "[threads]") {
  Pki pki;
  // Interval 0: every handshake also looks at the files, as rotation does.
  TlsContext::Result created = TlsContext::create(pki.config(), std::chrono::milliseconds(0));
  REQUIRE(created.context);
  std::shared_ptr<TlsContext> tls = std::move(created.context);
  static const SystemClock clock;
  static const testing::FakeProcessTable processes = testing::everything_alive();
  WebOptions options;
  options.listen_addresses = {"127.0.0.1:0"};
  options.tls = tls;
  WebServer server(
      options, std::make_shared<HeartbeatCollector>(std::make_shared<Config>(), clock, processes));
  // Catch2's assertions are not thread-safe: the threads count, the test checks. Each client
  // thread has its own SSL_CTX, as separate scrapers do: OpenSSL caches a shared CA
  // certificate's extensions behind an atomic flag that ThreadSanitizer cannot see into
  // libcrypto to pair, so one shared client context reports a race inside OpenSSL.
  std::atomic<bool> stop{false};
  std::atomic<int> updates{0}, failed_updates{0};
  std::thread swapper([&] {
    for (int i = 0; !stop; ++i) {
      if (tls->update(i % 2 == 0 ? pki.config("other", "other") : pki.config())) ++failed_updates;
      ++updates;
    }
  });
  std::atomic<int> served_1{0}, served_2{0}, failed{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      SSL_CTX* client = client_context(pki);
      if (client == nullptr) {
        failed += 40;
        return;
      }
      for (int i = 0; i < 40; ++i) {
        switch (handshake_and_get(server.port(), client)) {
          case 1:
            ++served_1;
            break;
          case 2:
            ++served_2;
            break;
          default:
            ++failed;
        }
      }
      SSL_CTX_free(client);
    });
  }
  for (auto& thread : clients) thread.join();
  stop = true;
  swapper.join();
  CHECK(failed_updates == 0);
  CHECK(updates > 1);
  CHECK(failed == 0);
  CHECK(served_1 + served_2 == 160);
  CHECK(served_1 > 0);
  CHECK(served_2 > 0);
}

TEST_CASE("concurrent handshakes that each verify a client certificate all succeed", "[threads]") {
  Pki pki;
  pki.pki.make_client("client", "ca");
  TlsServerConfig config = pki.config();
  config.client_ca_file = pki.pki.crt("ca");
  config.client_auth = ClientAuth::kRequireAndVerifyClientCert;
  TlsContext::Result created = TlsContext::create(config);
  INFO(created.error);
  REQUIRE(created.context);
  static const SystemClock clock;
  static const testing::FakeProcessTable processes = testing::everything_alive();
  WebOptions options;
  options.listen_addresses = {"127.0.0.1:0"};
  options.tls = std::move(created.context);
  WebServer server(
      options, std::make_shared<HeartbeatCollector>(std::make_shared<Config>(), clock, processes));
  // Every handshake checks the client's chain against the one shared client CA certificate,
  // whose extensions the server decoded while it built the context (ThreadSanitizer fails this
  // test when the handshakes are left to decode them concurrently).
  std::atomic<int> served{0}, failed{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      SSL_CTX* client = client_context(pki, "client");
      for (int i = 0; i < 20; ++i) {
        if (client != nullptr && handshake_and_get(server.port(), client) == 1) {
          ++served;
        } else {
          ++failed;
        }
      }
      SSL_CTX_free(client);
    });
  }
  for (auto& thread : clients) thread.join();
  CHECK(failed == 0);
  CHECK(served == 80);
  // And without a client certificate the same server refuses the handshake.
  SSL_CTX* anonymous = client_context(pki);
  REQUIRE(anonymous != nullptr);
  CHECK(handshake_and_get(server.port(), anonymous) < 0);
  SSL_CTX_free(anonymous);
}

}  // namespace
}  // namespace heartbeat_exporter
