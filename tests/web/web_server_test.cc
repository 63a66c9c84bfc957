#include "web/web_server.h"

// Shows optional values in failure messages instead of "{?}".
#define CATCH_CONFIG_ENABLE_OPTIONAL_STRINGMAKER

#include <civetweb.h>

#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>

#include "support/fakes.h"

namespace heartbeat_exporter {
namespace {

TEST_CASE("civetweb is built with IPv6 and with TLS linked in") {
  // mg_check_feature returns the bit asked for when the feature is compiled in.
  CHECK(mg_check_feature(8) == 8);  // IPv6
  CHECK(mg_check_feature(2) == 2);  // TLS, OpenSSL linked at build time (NO_SSL_DL)
}

TEST_CASE("listen addresses become civetweb listening ports") {
  CHECK(to_civetweb_listening_port(":9100") == "+9100");
  CHECK(to_civetweb_listening_port(":0") == "+0");
  CHECK(to_civetweb_listening_port("127.0.0.1:0") == "127.0.0.1:0");
  CHECK(to_civetweb_listening_port("0.0.0.0:65535") == "0.0.0.0:65535");
  CHECK(to_civetweb_listening_port("localhost:1") == "127.0.0.1:1");
  CHECK(to_civetweb_listening_port("[::1]:9100") == "[::1]:9100");
  CHECK(to_civetweb_listening_port("[::]:80") == "[::]:80");
}

TEST_CASE("listen addresses that cannot be bound are refused") {
  const char* bad_hosts[] = {"host:80",      "example.com:80", "1.2.3:80",    "1.2.3.4.5:80",
                             "1.2.3.:80",    ".1.2.3:80",      "1..2.3:80",   "1234.1.1.1:80",
                             "256.1.1.1:80", "-1.2.3.4:80",    "-0.0.0.0:80", "[]:80",
                             "::1:9100",     "[foo]:80",       "[1.2.3.4]:80"};
  const char* bad_ports[] = {"9100", "",          ":",      ":65536", ":-1", ":abc",
                             ":80x", "[::1]9100", "[::1]:", ":-0",    ":+80"};
  for (const char* address : bad_hosts) {
    INFO(address);
    CHECK(to_civetweb_listening_port(address) == std::nullopt);
  }
  for (const char* address : bad_ports) {
    INFO(address);
    CHECK(to_civetweb_listening_port(address) == std::nullopt);
  }
}

TEST_CASE("gzip is accepted when Accept-Encoding names gzip or * with a q other than 0") {
  for (const char* header :
       {"gzip", "deflate, gzip", "deflate,gzip", "gzip;q=0.5", "*", "gzip; q=1.0", " gzip ",
        "br;q=1.0, gzip;q=0.8, *;q=0.1", "GZIP", "Gzip;Q=1", "*;q=0, gzip", "gzip, *;q=0"}) {
    INFO(header);
    CHECK(accepts_gzip(header));
  }
}

TEST_CASE("gzip is refused when Accept-Encoding omits it or gives it q=0") {
  for (const char* header :
       {"", "deflate", "gzip;q=0", "gzip;q=0.000", "gzip; q=0.0", "*;q=0", "identity", "xgzip",
        "gzipx", "deflate, br", "gzip;level=1;q=0", "gzip;q=0, *", "*, gzip;q=0"}) {
    INFO(header);
    CHECK_FALSE(accepts_gzip(header));
  }
}

std::shared_ptr<HeartbeatCollector> empty_collector() {
  static const SystemClock clock;
  // The server tests below never read a heartbeat.
  static const testing::FakeProcessTable processes = testing::everything_alive();
  return std::make_shared<HeartbeatCollector>(std::make_shared<Config>(), clock, processes);
}

TEST_CASE("an invalid listen address is refused before anything is bound, with a one-line reason") {
  WebOptions options;
  options.listen_address = "example.com:80";
  CHECK_THROWS_MATCHES(WebServer(options, empty_collector()), std::runtime_error,
                       Catch::Message("invalid --web.listen-address example.com:80: want "
                                      "[host]:port with an IP address or localhost as host"));
}

TEST_CASE("listening_address reports the port the system chose when 0 was asked for") {
  WebOptions options;
  options.listen_address = "localhost:0";
  WebServer server(options, empty_collector());

  std::string address = server.listening_address();
  std::smatch match;
  REQUIRE(std::regex_match(address, match, std::regex(R"(127\.0\.0\.1:([0-9]+))")));
  CHECK(std::stoi(match[1]) > 0);
}

}  // namespace
}  // namespace heartbeat_exporter
