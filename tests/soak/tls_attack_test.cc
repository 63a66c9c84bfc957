// Attacks on the exporter's TLS endpoint: clients that never finish a handshake, garbage
// instead of a ClientHello, and a flood of handshakes with a wrong client certificate, each while
// a normal scrape must still be answered. Measures latency, so it runs alone (label soak).
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
#include <string>
#include <thread>
#include <vector>

#include "support/tls_exporter.h"

using namespace heartbeat_exporter::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* kMetricLine = kNoHeartbeatLine;

// The scrapes come from 127.0.0.2: tens of thousands of attack connections from 127.0.0.1 to
// one port leave the server's side of their ports in TIME_WAIT, and a scrape that happened to
// reuse one would wait for SYN retransmits, a cost of the test bench and not of the exporter.
RunResult scrape(const std::string& ca, int port, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--interface", "127.0.0.2", "--cacert", ca,
                                   "https://localhost:" + std::to_string(port) + "/metrics"};
  args.insert(args.end(), extra.begin(), extra.end());
  return curl(args);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A scrape over TLS as Prometheus does it; its duration in seconds, or -1 when it failed.
double timed_scrape(const TlsFixture& fixture, int port,
                    const std::vector<std::string>& extra = {}) {
  auto start = std::chrono::steady_clock::now();
  auto scraped = scrape(fixture.ca(), port, extra);
  const double took = seconds_since(start);
  return scraped.exit_code == 0 && scraped.out.find(kMetricLine) != std::string::npos ? took : -1;
}

}  // namespace

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
    const double took = timed_scrape(fixture, port, client_cert);
    slowest = took < 0 ? -1 : std::max(slowest, took);
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
