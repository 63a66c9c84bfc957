// The built exporter serving TLS natively, against curl and openssl s_client, with CAs and
// certificates made by openssl at test time. Attacks on it: tests/soak/tls_attack_test.cc.
#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "support/tls_exporter.h"

using namespace heartbeat_exporter::testing;
using namespace std::chrono_literals;

namespace {

// bcrypt of "s3cret" (alice) and of "hunter2" (bob).
constexpr const char* kAliceHash = "$2b$10$9lXExI9bGpSCRPG9yiZy3eiwBN9IvwjKE0NkOYxmDP.mG4OHLqyHS";
constexpr const char* kBobHash = "$2b$05$.S.TOD2Ub0PbA8lQTZromO1dvWqToEQc.ZdIVDgCam4mtOYbx0c8i";
constexpr const char* kMetricLine = kNoHeartbeatLine;

std::string alice() { return std::string("basic_auth_users:\n  alice: ") + kAliceHash + "\n"; }

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
