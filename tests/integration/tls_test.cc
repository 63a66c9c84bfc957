// The built exporter serving TLS natively, against curl, openssl s_client and hostile clients,
// with CAs and certificates made by openssl at test time.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "support/subprocess.h"
#include "support/temp_dir.h"
#include "support/test_pki.h"

using namespace heartbeat_exporter::testing;
using namespace std::chrono_literals;

namespace {

// bcrypt of "s3cret" (alice) and of "hunter2" (bob).
constexpr const char* kAliceHash = "$2b$10$9lXExI9bGpSCRPG9yiZy3eiwBN9IvwjKE0NkOYxmDP.mG4OHLqyHS";
constexpr const char* kBobHash = "$2b$05$.S.TOD2Ub0PbA8lQTZromO1dvWqToEQc.ZdIVDgCam4mtOYbx0c8i";
constexpr const char* kMetricLine =
    "\nheartbeat_state{process=\"gone\",state=\"no_heartbeat\"} 1\n";

// A heartbeat config whose one process has no heartbeat file, a CA and a server certificate
// (serial 1) signed by it, and a web config naming them by relative paths.
struct TlsFixture {
  TempDir dir;
  TestPki pki{dir.path()};
  std::filesystem::path config =
      dir.write("config.json", R"({"processes": {"gone": {"heartbeat_path": "hb/gone.json"}}})");
  std::filesystem::path web_config;

  explicit TlsFixture(const std::string& tls_extra = "", const std::string& users = "") {
    pki.make_ca("ca");
    pki.make_server("server", "ca", 1);
    write_web_config(tls_extra, users);
  }
  void write_web_config(const std::string& tls_extra, const std::string& users = "") {
    web_config = dir.write("web.yml",
                           "tls_server_config:\n  cert_file: server.crt\n"
                           "  key_file: server.key\n" +
                               tls_extra + users);
  }
  std::string ca() const { return pki.crt("ca").string(); }
};

std::string alice() { return std::string("basic_auth_users:\n  alice: ") + kAliceHash + "\n"; }

// The exporter on 127.0.0.1 with TLS from the fixture's web config.
struct TlsExporter {
  Exporter exporter;
  explicit TlsExporter(const TlsFixture& fixture, std::vector<std::string> flags = {})
      : exporter(fixture.config, fixture.dir.path(), with_web_config(fixture, std::move(flags))) {}
  static std::vector<std::string> with_web_config(const TlsFixture& fixture,
                                                  std::vector<std::string> flags) {
    flags.push_back("--web.config.file=" + fixture.web_config.string());
    return flags;
  }
  int port() const { return exporter.port(); }
  Subprocess& process() { return exporter.process(); }
  std::string url(const std::string& path = "/metrics") const {
    return "https://localhost:" + std::to_string(port()) + path;
  }
};

RunResult curl(std::vector<std::string> args) {
  args.insert(args.begin(), {"curl", "--silent", "--show-error", "--max-time", "10"});
  return run(args);
}

// openssl s_client to 127.0.0.1:port with `args`; exit code 0 when the handshake succeeded.
RunResult s_client(int port, std::vector<std::string> args) {
  args.insert(args.begin(), {"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port),
                             "-servername", "localhost"});
  return run(args, "", 20s);
}

// The serial number of the certificate a new connection gets, as "serial=NN".
std::string served_serial(int port) {
  auto shown = s_client(port, {"-showcerts"});
  if (shown.exit_code != 0) return "handshake failed: " + shown.err;
  auto serial = run({"openssl", "x509", "-noout", "-serial"}, shown.out);
  return serial.out.substr(0, serial.out.find('\n'));
}

// heartbeat_exporter_config_last_reload_successful, scraped as alice.
std::string config_reload_metric(const TlsFixture& fixture, int port) {
  auto scraped = curl({"--cacert", fixture.ca(), "-u", "alice:s3cret",
                       "https://localhost:" + std::to_string(port) + "/metrics"});
  std::smatch match;
  std::regex_search(scraped.out, match,
                    std::regex("\nheartbeat_exporter_config_last_reload_successful (\\d)\n"));
  return match.size() > 1 ? match[1].str() : "absent: " + scraped.err;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A scrape over TLS as Prometheus does it; its duration in seconds, or -1 when it failed.
double timed_scrape(const TlsFixture& fixture, int port) {
  auto start = std::chrono::steady_clock::now();
  auto scraped =
      curl({"--cacert", fixture.ca(), "https://localhost:" + std::to_string(port) + "/metrics"});
  const double took = seconds_since(start);
  return scraped.exit_code == 0 && scraped.out.find(kMetricLine) != std::string::npos ? took : -1;
}

int connect_to(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

TEST_CASE("TLS is served on every listen address, IPv4 and IPv6, with basic auth over it",
          "[integration]") {
  TlsFixture fixture("", alice());
  TlsExporter exporter(fixture,
                       {"--web.listen-address=127.0.0.1:0", "--web.listen-address=[::1]:0"});
  auto line = exporter.process().wait_for_log("starting heartbeat_exporter");
  REQUIRE(line);
  std::smatch match;
  REQUIRE(std::regex_search(*line, match,
                            std::regex(R"(address=127\.0\.0\.1:(\d+),\[::1\]:(\d+) tls=on )")));
  for (const std::string& host : {"127.0.0.1:" + match[1].str(), "[::1]:" + match[2].str()}) {
    INFO(host);
    auto scraped =
        curl({"--cacert", fixture.ca(), "-u", "alice:s3cret", "https://" + host + "/metrics"});
    INFO(scraped.err);
    CHECK(scraped.exit_code == 0);
    CHECK(scraped.out.find(kMetricLine) != std::string::npos);
    auto no_password = curl({"--cacert", fixture.ca(), "--output", "/dev/null", "--write-out",
                             "%{http_code}", "https://" + host + "/metrics"});
    CHECK(no_password.out == "401");
    auto wrong_password =
        curl({"--cacert", fixture.ca(), "-u", "alice:wrong", "--output", "/dev/null", "--write-out",
              "%{http_code}", "https://" + host + "/metrics"});
    CHECK(wrong_password.out == "401");
    // Not trusted without the CA; no plaintext on a TLS port.
    CHECK(curl({"-u", "alice:s3cret", "https://" + host + "/metrics"}).exit_code == 60);
    auto plain = curl({"-u", "alice:s3cret", "http://" + host + "/metrics"});
    CHECK(plain.exit_code != 0);
    CHECK(plain.out.find("heartbeat") == std::string::npos);
  }
  // The exporter runs no helper process for TLS.
  CHECK(run({"pgrep", "-P", std::to_string(exporter.process().pid())}).out.empty());
}

TEST_CASE("min_version TLS13 refuses a client that speaks at most TLS 1.2 and accepts TLS 1.3",
          "[integration]") {
  TlsFixture fixture("  min_version: TLS13\n");
  TlsExporter exporter(fixture);
  auto old_client = curl({"--cacert", fixture.ca(), "--tls-max", "1.2", exporter.url()});
  CHECK(old_client.exit_code == 35);
  CHECK(old_client.err.find("alert protocol version") != std::string::npos);
  auto new_client = curl({"--cacert", fixture.ca(), "--tlsv1.3", exporter.url()});
  INFO(new_client.err);
  CHECK(new_client.exit_code == 0);
  CHECK(new_client.out.find(kMetricLine) != std::string::npos);
}

TEST_CASE("the defaults refuse TLS 1.1, CBC and RSA key exchange and accept ECDHE with AEAD",
          "[integration]") {
  TlsFixture fixture;
  TlsExporter exporter(fixture);
  struct Client {
    std::vector<std::string> args;
    const char* server_says;  // the alert the server sends back; empty: handshake succeeds
  };
  // Each client offers only what is named; SECLEVEL=0 lets the client itself offer TLS 1.1.
  const Client clients[] = {
      {{"-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"}, "alert handshake failure"},
      {{"-tls1_2", "-cipher", "ECDHE-RSA-AES256-SHA"}, "alert handshake failure"},
      {{"-tls1_2", "-cipher", "AES128-GCM-SHA256"}, "alert handshake failure"},
      {{"-tls1_2", "-cipher", "AES256-SHA"}, "alert handshake failure"},
      {{"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"}, "alert protocol version"},
      {{"-tls1", "-cipher", "DEFAULT@SECLEVEL=0"}, "alert protocol version"},
      {{"-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"}, ""},
      {{"-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"}, ""},
      {{"-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"}, ""},
      {{"-tls1_3"}, ""},
  };
  for (const auto& client : clients) {
    INFO(client.args[0] << " " << (client.args.size() > 2 ? client.args[2] : ""));
    auto result = s_client(exporter.port(), client.args);
    INFO(result.err);
    if (*client.server_says == '\0') {
      CHECK(result.exit_code == 0);
    } else {
      CHECK(result.exit_code != 0);
      CHECK(result.err.find(client.server_says) != std::string::npos);
    }
  }
}

TEST_CASE("configured cipher suites and curves are what the server accepts", "[integration]") {
  TlsFixture fixture(
      "  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]\n"
      "  curve_preferences: [CurveP384]\n");
  TlsExporter exporter(fixture);
  CHECK(s_client(exporter.port(), {"-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"}).exit_code == 0);
  auto aead = s_client(exporter.port(), {"-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"});
  CHECK(aead.exit_code != 0);
  CHECK(aead.err.find("alert handshake failure") != std::string::npos);
  CHECK(s_client(exporter.port(), {"-tls1_3", "-groups", "P-384"}).exit_code == 0);
  auto other_group = s_client(exporter.port(), {"-tls1_3", "-groups", "X25519:P-256"});
  CHECK(other_group.exit_code != 0);
  CHECK(other_group.err.find("alert handshake failure") != std::string::npos);
}

TEST_CASE("each client_auth_type takes the client certificates it should", "[integration]") {
  struct Case {
    const char* policy;
    bool none, stranger, signed_by_ca;  // whether a scrape succeeds with that certificate
  };
  const Case cases[] = {
      {"RequestClientCert", true, true, true},
      {"RequireAnyClientCert", false, true, true},
      {"VerifyClientCertIfGiven", true, false, true},
      {"RequireAndVerifyClientCert", false, false, true},
  };
  TlsFixture fixture;
  fixture.pki.make_ca("other_ca");
  fixture.pki.make_client("good", "ca");
  fixture.pki.make_client("stranger", "other_ca");
  for (const auto& c : cases) {
    INFO(c.policy);
    fixture.write_web_config(std::string("  client_ca_file: ca.crt\n  client_auth_type: ") +
                             c.policy + "\n");
    TlsExporter exporter(fixture);
    auto scrape = [&](const std::string& client) {
      std::vector<std::string> args = {"--cacert", fixture.ca(), exporter.url()};
      if (!client.empty()) {
        args.insert(args.end(), {"--cert", fixture.pki.crt(client).string(), "--key",
                                 fixture.pki.key(client).string()});
      }
      auto result = curl(args);
      INFO(client << ": " << result.err);
      return result.exit_code == 0 && result.out.find(kMetricLine) != std::string::npos;
    };
    CHECK(scrape("") == c.none);
    CHECK(scrape("stranger") == c.stranger);
    CHECK(scrape("good") == c.signed_by_ca);
  }
}

TEST_CASE(
    "a rotated certificate is served to new connections without a restart, and a broken "
    "one is logged once and not served",
    "[integration]") {
  TlsFixture fixture;
  TlsExporter exporter(fixture);
  REQUIRE(served_serial(exporter.port()) == "serial=01");
  fixture.pki.make_server("next", "ca", 2);
  // As cert-manager or certbot replace them: each file renamed into place, key first.
  std::filesystem::rename(fixture.pki.key("next"), fixture.pki.key("server"));
  std::filesystem::rename(fixture.pki.crt("next"), fixture.pki.crt("server"));
  std::string serial;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while ((serial = served_serial(exporter.port())) != "serial=02" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  CHECK(serial == "serial=02");
  CHECK(exporter.process().wait_for_log("msg=\"TLS certificate reloaded\""));
  CHECK(curl({"--cacert", fixture.ca(), exporter.url()}).out.find(kMetricLine) !=
        std::string::npos);

  fixture.dir.write("server.crt", "-----BEGIN CERTIFICATE-----\ntruncated\n");
  std::this_thread::sleep_for(2500ms);
  CHECK(served_serial(exporter.port()) == "serial=02");
  const std::string text = exporter.process().stderr_text();
  const std::string failure =
      "msg=\"changed TLS files do not load; new connections keep the "
      "previous certificate\" err=\"tls_server_config.cert_file:";
  std::size_t count = 0;
  for (auto at = text.find(failure); at != std::string::npos; at = text.find(failure, at + 1)) {
    ++count;
  }
  CHECK(count == 1);
}

TEST_CASE(
    "SIGHUP with a broken web config keeps serving with the old one, and a good one "
    "changes TLS settings and users",
    "[integration]") {
  TlsFixture fixture("", alice());
  TlsExporter exporter(fixture);
  const auto alice_scrape = [&] {
    return curl({"--cacert", fixture.ca(), "-u", "alice:s3cret", exporter.url()});
  };
  for (const char* broken : {"  min_version: TLS14\n", "  cipher_suites: [RC4]\n",
                             "  key_file: missing.key\n", "  client_ca_file: ca.crt\n"}) {
    INFO(broken);
    fixture.dir.write("web.yml", std::string("tls_server_config:\n  cert_file: server.crt\n") +
                                     (std::string(broken).find("key_file") == std::string::npos
                                          ? "  key_file: server.key\n"
                                          : "") +
                                     broken + "basic_auth_users:\n  bob: " + kBobHash + "\n");
    const auto before = exporter.process().stderr_text().size();
    exporter.process().signal(SIGHUP);
    const std::string failure =
        "msg=\"reloading configuration failed; keeping the previous one\" "
        "err=\"" +
        fixture.web_config.string() + ": tls_server_config.";
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (exporter.process().stderr_text().find(failure, before) == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    REQUIRE(exporter.process().stderr_text().find(failure, before) != std::string::npos);
    auto scraped = alice_scrape();
    INFO(scraped.err);
    CHECK(scraped.out.find(kMetricLine) != std::string::npos);
    CHECK(curl({"--cacert", fixture.ca(), "-u", "bob:hunter2", "--output", "/dev/null",
                "--write-out", "%{http_code}", exporter.url()})
              .out == "401");
    CHECK(curl({"--cacert", fixture.ca(), "-u", "alice:s3cret", "--tls-max", "1.2", "--output",
                "/dev/null", "--write-out", "%{http_code}", exporter.url()})
              .out == "200");
    CHECK(config_reload_metric(fixture, exporter.port()) == "0");
  }

  fixture.write_web_config("  min_version: TLS13\n",
                           std::string("basic_auth_users:\n  bob: ") + kBobHash + "\n");
  exporter.process().signal(SIGHUP);
  REQUIRE(exporter.process().wait_for_log("web configuration reloaded"));
  auto bob = curl({"--cacert", fixture.ca(), "-u", "bob:hunter2", exporter.url()});
  INFO(bob.err);
  CHECK(bob.out.find(kMetricLine) != std::string::npos);
  CHECK(curl({"--cacert", fixture.ca(), "-u", "alice:s3cret", "--output", "/dev/null",
              "--write-out", "%{http_code}", exporter.url()})
            .out == "401");
  CHECK(curl({"--cacert", fixture.ca(), "-u", "bob:hunter2", "--tls-max", "1.2", exporter.url()})
            .exit_code == 35);
}

TEST_CASE("a reload cannot turn TLS off, and POST /-/reload over TLS reports a broken web config",
          "[integration]") {
  TlsFixture fixture;
  TlsExporter exporter(fixture, {"--web.enable-lifecycle"});
  fixture.dir.write("web.yml", std::string("basic_auth_users:\n  bob: ") + kBobHash + "\n");
  auto reload = curl({"--cacert", fixture.ca(), "-X", "POST", exporter.url("/-/reload")});
  CHECK(reload.out == "failed to reload config: " + fixture.web_config.string() +
                          ": tls_server_config: turning TLS off needs a restart\n");
  CHECK(curl({"--cacert", fixture.ca(), exporter.url()}).out.find(kMetricLine) !=
        std::string::npos);
  fixture.write_web_config("  cipher_suites: [TLS_RSA_WITH_AES_128_GCM_SHA256]\n");
  reload = curl({"--cacert", fixture.ca(), "-X", "POST", exporter.url("/-/reload")});
  CHECK(reload.out == "failed to reload config: " + fixture.web_config.string() +
                          ": tls_server_config.cipher_suites: unknown name "
                          "\"TLS_RSA_WITH_AES_128_GCM_SHA256\"\n");
  fixture.write_web_config("");
  reload = curl({"--cacert", fixture.ca(), "-X", "POST", "--write-out", "%{http_code}",
                 exporter.url("/-/reload")});
  CHECK(reload.out == "200");
}

TEST_CASE("a TLS setting that cannot be honoured fails startup with one line naming it",
          "[integration]") {
  TlsFixture fixture;
  fixture.pki.make_server("other", "ca", 2);
  struct Case {
    std::string tls;
    std::string error;
  };
  const Case cases[] = {
      {"  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n",
       "tls_server_config.cipher_suites: unknown name \\\"TLS_RSA_WITH_AES_128_CBC_SHA\\\""},
      {"  max_version: TLS15\n", "tls_server_config.max_version: unknown value \\\"TLS15\\\""},
      {"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: nope.crt\n",
       "tls_server_config.client_ca_file: cannot read"},
  };
  for (const auto& c : cases) {
    INFO(c.tls);
    fixture.write_web_config(c.tls);
    auto result = run({HEARTBEAT_EXPORTER_BINARY, "--config.file=" + fixture.config.string(),
                       "--web.config.file=" + fixture.web_config.string()});
    CHECK(result.exit_code == 1);
    CHECK(result.err.find("msg=\"invalid web configuration\" err=\"" + fixture.web_config.string() +
                          ": " + c.error) != std::string::npos);
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
  }
  fixture.dir.write("web.yml",
                    "tls_server_config:\n  cert_file: other.crt\n  key_file: server.key\n");
  auto mismatch = run({HEARTBEAT_EXPORTER_BINARY, "--config.file=" + fixture.config.string(),
                       "--web.config.file=" + fixture.web_config.string()});
  CHECK(mismatch.exit_code == 1);
  CHECK(mismatch.err.find(": tls_server_config.key_file: does not match cert_file") !=
        std::string::npos);
  CHECK(std::count(mismatch.err.begin(), mismatch.err.end(), '\n') == 1);
}

namespace {

// Runs `attack` on `threads` threads until the scrapes are done: `scrapes` TLS scrapes, one
// every 200 ms; returns the slowest in seconds (-1 when one failed).
template <typename Attack>
double slowest_scrape_during(const TlsFixture& fixture, int port, int threads, int scrapes,
                             Attack attack, std::atomic<long>& attempts,
                             const std::vector<std::string>& client_cert = {}) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> attackers;
  for (int i = 0; i < threads; ++i) {
    attackers.emplace_back([&] {
      while (!stop) {
        attack();
        ++attempts;
      }
    });
  }
  std::this_thread::sleep_for(500ms);
  double slowest = 0;
  for (int i = 0; i < scrapes && slowest >= 0; ++i) {
    auto start = std::chrono::steady_clock::now();
    std::vector<std::string> args = {"--cacert", fixture.ca(),
                                     "https://localhost:" + std::to_string(port) + "/metrics"};
    args.insert(args.end(), client_cert.begin(), client_cert.end());
    auto scraped = curl(args);
    const double took = seconds_since(start);
    slowest = scraped.exit_code == 0 && scraped.out.find(kMetricLine) != std::string::npos
                  ? std::max(slowest, took)
                  : -1;
    std::this_thread::sleep_for(200ms);
  }
  stop = true;
  for (auto& attacker : attackers) attacker.join();
  return slowest;
}

// A TLS client with `cert` whose handshake the server must refuse; true when it got an HTTP
// answer all the same.
bool served_with(SSL_CTX* client, int port) {
  const int fd = connect_to(port);
  if (fd < 0) return false;
  timeval timeout{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  SSL* ssl = SSL_new(client);
  SSL_set_fd(ssl, fd);
  bool served = false;
  if (SSL_connect(ssl) == 1) {
    static constexpr char kRequest[] = "GET /metrics HTTP/1.0\r\n\r\n";
    char buffer[64];
    served = SSL_write(ssl, kRequest, sizeof kRequest - 1) > 0 &&
             SSL_read(ssl, buffer, sizeof buffer) > 0;
  }
  SSL_free(ssl);
  ERR_clear_error();
  close(fd);
  return served;
}

}  // namespace

TEST_CASE("attack: connections that never finish the TLS handshake do not stop scrapes",
          "[integration]") {
  TlsFixture fixture;
  TlsExporter exporter(fixture);
  constexpr int kConnections = 64;
  // Half send nothing; half send the start of a ClientHello record and stop.
  static constexpr unsigned char kPartialHello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00};
  std::vector<int> fds;
  for (int i = 0; i < kConnections; ++i) {
    const int fd = connect_to(exporter.port());
    REQUIRE(fd >= 0);
    if (i % 2 == 1) REQUIRE(send(fd, kPartialHello, sizeof kPartialHello, 0) > 0);
    fds.push_back(fd);
  }
  std::this_thread::sleep_for(500ms);
  double slowest = 0;
  for (int i = 0; i < 5 && slowest >= 0; ++i) {
    const double took = timed_scrape(fixture, exporter.port());
    slowest = took < 0 ? -1 : std::max(slowest, took);
  }
  for (int fd : fds) close(fd);
  const double after = timed_scrape(fixture, exporter.port());
  std::printf("stalled TLS handshakes: %d open, slowest of 5 scrapes %.3f s, after close %.3f s\n",
              kConnections, slowest, after);
  CHECK(slowest >= 0);
  CHECK(slowest < 1.0);
  CHECK(after >= 0);
  CHECK(after < 1.0);
}

TEST_CASE("attack: garbage instead of a ClientHello is dropped and does not stop scrapes",
          "[integration]") {
  TlsFixture fixture;
  TlsExporter exporter(fixture);
  std::atomic<long> attempts{0};
  const int port = exporter.port();
  auto garbage = [port] {
    const int fd = connect_to(port);
    if (fd < 0) return;
    timeval timeout{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    // Every connection a whole message the server can judge at once: a handshake record with
    // a body that is no ClientHello, an alert, or plain HTTP.
    static const std::string kGarbage[] = {
        std::string("\x16\x03\x01\x00\x05\xff\xff\xff\xff\xff", 10),
        std::string("\x15\x03\x03\x00\x02\x02\x28", 7), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"};
    static std::atomic<unsigned> next{0};
    const std::string& noise = kGarbage[next++ % 3];
    send(fd, noise.data(), noise.size(), MSG_NOSIGNAL);
    char buffer[256];
    while (recv(fd, buffer, sizeof buffer, 0) > 0) {
    }
    close(fd);
  };
  const double slowest = slowest_scrape_during(fixture, port, 8, 5, garbage, attempts);
  std::printf("garbage ClientHellos: %ld sent by 8 threads, slowest of 5 scrapes %.3f s\n",
              attempts.load(), slowest);
  CHECK(attempts > 100);
  CHECK(slowest >= 0);
  CHECK(slowest < 1.0);
}

TEST_CASE(
    "attack: a flood of handshakes with a certificate from another CA does not stop "
    "scrapes and is never served",
    "[integration]") {
  TlsFixture fixture("  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n");
  fixture.pki.make_ca("other_ca");
  fixture.pki.make_client("good", "ca");
  fixture.pki.make_client("stranger", "other_ca");
  TlsExporter exporter(fixture);
  // The server closes on a refused handshake; SSL_write must not kill the test with SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  SSL_CTX* client = SSL_CTX_new(TLS_client_method());
  REQUIRE(SSL_CTX_use_certificate_file(client, fixture.pki.crt("stranger").c_str(),
                                       SSL_FILETYPE_PEM) == 1);
  REQUIRE(SSL_CTX_use_PrivateKey_file(client, fixture.pki.key("stranger").c_str(),
                                      SSL_FILETYPE_PEM) == 1);
  std::atomic<long> attempts{0}, served{0};
  const int port = exporter.port();
  auto wrong_cert = [&] {
    if (served_with(client, port)) ++served;
  };
  const double slowest = slowest_scrape_during(
      fixture, port, 8, 5, wrong_cert, attempts,
      {"--cert", fixture.pki.crt("good").string(), "--key", fixture.pki.key("good").string()});
  SSL_CTX_free(client);
  std::printf(
      "wrong client certificates: %ld handshakes by 8 threads, %ld served, slowest of 5 scrapes "
      "%.3f s\n",
      attempts.load(), served.load(), slowest);
  CHECK(attempts > 50);
  CHECK(served == 0);
  CHECK(slowest >= 0);
  CHECK(slowest < 1.0);
}
