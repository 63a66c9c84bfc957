#include "web/web_server.h"

// Shows optional values in failure messages instead of "{?}".
#define CATCH_CONFIG_ENABLE_OPTIONAL_STRINGMAKER

#include <civetweb.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "support/fakes.h"
#include "support/http_client.h"

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
  options.listen_addresses = {"127.0.0.1:0", "example.com:80"};
  CHECK_THROWS_MATCHES(WebServer(options, empty_collector()), std::runtime_error,
                       Catch::Message("invalid --web.listen-address example.com:80: want "
                                      "[host]:port with an IP address or localhost as host"));
}

TEST_CASE("listening_address reports the port the system chose when 0 was asked for") {
  WebOptions options;
  options.listen_addresses = {"localhost:0"};
  WebServer server(options, empty_collector());

  std::string address = server.listening_address();
  std::smatch match;
  REQUIRE(std::regex_match(address, match, std::regex(R"(127\.0\.0\.1:([0-9]+))")));
  CHECK(std::stoi(match[1]) > 0);
}

// Whether a GET of /-/healthy through host:port answers 200; false when the connection is
// refused (nothing listens there for that address family).
bool healthy_through(const std::string& host, int port) {
  try {
    return testing::http_request_to(host, port, "GET", "/-/healthy").status == 200;
  } catch (const std::system_error& e) {
    if (e.code().value() == ECONNREFUSED) return false;
    throw;
  }
}

// The ports that listening_address() reports, in order.
std::vector<int> reported_ports(const WebServer& server) {
  std::vector<int> ports;
  std::string text = server.listening_address();
  std::regex port_at_end(R"(:([0-9]+)(,|$))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), port_at_end);
       it != std::sregex_iterator(); ++it) {
    ports.push_back(std::stoi((*it)[1]));
  }
  return ports;
}

TEST_CASE("every listen address is served, each on the address families it names") {
  WebOptions options;
  options.listen_addresses = {":0", "127.0.0.1:0", "[::1]:0", "0.0.0.0:0", "[::]:0"};
  WebServer server(options, empty_collector());
  auto ports = reported_ports(server);
  REQUIRE(ports.size() == 5);
  CHECK(std::regex_match(
      server.listening_address(),
      std::regex(R"(:\d+,127\.0\.0\.1:\d+,\[::1\]:\d+,0\.0\.0\.0:\d+,\[::\]:\d+)")));

  struct Expectation {
    const char* address;
    bool ipv4;
    bool ipv6;
  };
  const Expectation expectations[] = {{":0", true, true},
                                      {"127.0.0.1:0", true, false},
                                      {"[::1]:0", false, true},
                                      {"0.0.0.0:0", true, false},
                                      {"[::]:0", false, true}};
  for (std::size_t i = 0; i < ports.size(); ++i) {
    INFO(expectations[i].address << " on port " << ports[i]);
    CHECK(healthy_through("127.0.0.1", ports[i]) == expectations[i].ipv4);
    CHECK(healthy_through("::1", ports[i]) == expectations[i].ipv6);
  }
}

TEST_CASE("basic auth applies on every listen address") {
  WebOptions options;
  options.listen_addresses = {"127.0.0.1:0", "[::1]:0"};
  // bcrypt of "s3cret"; "Basic " + base64("alice:s3cret").
  options.basic_auth_users = {
      {"alice", "$2b$10$9lXExI9bGpSCRPG9yiZy3eiwBN9IvwjKE0NkOYxmDP.mG4OHLqyHS"}};
  const std::map<std::string, std::string> alice = {{"Authorization", "Basic YWxpY2U6czNjcmV0"}};
  WebServer server(options, empty_collector());
  auto ports = reported_ports(server);
  REQUIRE(ports.size() == 2);
  CHECK(testing::http_request_to("127.0.0.1", ports[0], "GET", "/-/healthy").status == 401);
  CHECK(testing::http_request_to("::1", ports[1], "GET", "/-/healthy").status == 401);
  CHECK(testing::http_request_to("127.0.0.1", ports[0], "GET", "/-/healthy", alice).status == 200);
  CHECK(testing::http_request_to("::1", ports[1], "GET", "/-/healthy", alice).status == 200);
}

TEST_CASE("listen addresses that overlap are refused, naming the one that clashes") {
  // A port free on both families a moment ago.
  WebOptions probe;
  probe.listen_addresses = {":0"};
  const int port = WebServer(probe, empty_collector()).port();
  const std::string p = std::to_string(port);

  CHECK(bind_failure({":" + p, "0.0.0.0:" + p}).value_or(BindFailure{}).address == "0.0.0.0:" + p);
  CHECK(bind_failure({":" + p, "[::1]:" + p}).value_or(BindFailure{}).address == "[::1]:" + p);
  CHECK(bind_failure({"127.0.0.1:" + p, "127.0.0.1:" + p}).value_or(BindFailure{}).reason ==
        "Address already in use");
  // IPv4-only and IPv6-only sockets on one port do not overlap.
  CHECK(bind_failure({"0.0.0.0:" + p, "[::]:" + p}) == std::nullopt);
  CHECK(bind_failure({"127.0.0.1:" + p, "[::1]:" + p}) == std::nullopt);

  WebOptions options;
  options.listen_addresses = {":" + p, "127.0.0.1:" + p};
  CHECK_THROWS_MATCHES(
      WebServer(options, empty_collector()), std::runtime_error,
      Catch::Message("cannot listen on 127.0.0.1:" + p + ": Address already in use"));
}

TEST_CASE("HEAD answers carry no body, so a kept-alive connection stays in step") {
  WebOptions options;
  options.listen_addresses = {"127.0.0.1:0"};
  options.reload = [] { return std::optional<std::string>(); };
  WebServer server(options, empty_collector());
  testing::HttpConnection connection("127.0.0.1", server.port());
  for (const char* path : {"/metrics", "/", "/-/healthy", "/-/ready", "/-/reload", "/nope"}) {
    INFO("HEAD " << path);
    auto get_length = testing::http_get(server.port(), path).headers["content-length"];
    auto head = connection.request("HEAD", path);
    // The exposition's own counters change its length from one scrape to the next.
    if (std::string_view(path) != "/metrics") CHECK(head.headers["content-length"] == get_length);
    CHECK_FALSE(head.headers["content-length"].empty());
    // Had the HEAD answer carried its body, this would read it as the next status line.
    auto next = connection.request("GET", "/-/healthy");
    CHECK(next.status == 200);
    CHECK(next.body == "Healthy\n");
  }
}

TEST_CASE("405 names the allowed methods in Allow, and keeps the connection in step") {
  WebOptions options;
  options.listen_addresses = {"127.0.0.1:0"};
  options.reload = [] { return std::optional<std::string>(); };
  WebServer server(options, empty_collector());
  testing::HttpConnection connection("127.0.0.1", server.port());
  struct Case {
    const char* method;
    const char* path;
    const char* allow;
  };
  for (const Case& c :
       {Case{"POST", "/metrics", "GET, HEAD"}, Case{"DELETE", "/", "GET, HEAD"},
        Case{"PUT", "/-/healthy", "GET, HEAD"}, Case{"OPTIONS", "/-/ready", "GET, HEAD"},
        Case{"GET", "/-/reload", "POST, PUT"}, Case{"HEAD", "/-/reload", "POST, PUT"},
        Case{"DELETE", "/-/reload", "POST, PUT"}}) {
    INFO(c.method << " " << c.path);
    auto response = connection.request(c.method, c.path);
    CHECK(response.status == 405);
    CHECK(response.headers["allow"] == c.allow);
    CHECK(connection.request("GET", "/-/healthy").status == 200);
  }
}

TEST_CASE("with basic auth a HEAD refused with 401 carries no body either") {
  WebOptions options;
  options.listen_addresses = {"127.0.0.1:0"};
  options.basic_auth_users = {
      {"alice", "$2b$10$9lXExI9bGpSCRPG9yiZy3eiwBN9IvwjKE0NkOYxmDP.mG4OHLqyHS"}};
  WebServer server(options, empty_collector());
  testing::HttpConnection connection("127.0.0.1", server.port());
  for (const char* path : {"/metrics", "/-/reload", "/nope"}) {
    INFO("HEAD " << path);
    CHECK(connection.request("HEAD", path).status == 401);
    CHECK(connection.request("GET", "/-/healthy").status == 401);
  }
}

}  // namespace
}  // namespace heartbeat_exporter
