// The built exporter with --web.config.file: basic auth over HTTP (TLS: tls_test.cc).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "support/http_client.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

using namespace heartbeat_exporter::testing;
using namespace std::chrono_literals;

namespace {

// bcrypt of "s3cret"; "Basic " + base64("alice:s3cret") and base64("alice:wrong").
constexpr const char* kHash = "$2b$10$9lXExI9bGpSCRPG9yiZy3eiwBN9IvwjKE0NkOYxmDP.mG4OHLqyHS";
const std::map<std::string, std::string> kAlice = {{"Authorization", "Basic YWxpY2U6czNjcmV0"}};
const std::map<std::string, std::string> kWrongPassword = {
    {"Authorization", "Basic YWxpY2U6d3Jvbmc="}};
constexpr const char* kChallenge = "Basic realm=\"heartbeat_exporter\"";

std::string users_yaml() { return std::string("basic_auth_users:\n  alice: ") + kHash + "\n"; }

// A folder with a heartbeat config whose one process has no heartbeat file, so that every
// check counts one read error with reason "missing".
struct MissingHeartbeat {
  TempDir dir;
  std::filesystem::path config =
      dir.write("config.json", R"({"processes": {"gone": {"heartbeat_path": "hb/gone.json"}}})");
};

}  // namespace

TEST_CASE("repeated listen addresses are each scraped, over IPv4 and IPv6, with basic auth on each",
          "[integration]") {
  MissingHeartbeat fixture;
  auto web_config = fixture.dir.write("web.yml", users_yaml());
  Exporter exporter(fixture.config, fixture.dir.path(),
                    {"--web.listen-address=127.0.0.1:0", "--web.listen-address=[::1]:0",
                     "--web.listen-address=:0", "--web.config.file=" + web_config.string()});
  auto line = exporter.process().wait_for_log("starting heartbeat_exporter");
  REQUIRE(line);
  std::smatch match;
  REQUIRE(std::regex_search(*line, match,
                            std::regex(R"(address=127\.0\.0\.1:(\d+),\[::1\]:(\d+),:(\d+) )")));
  const int v4 = std::stoi(match[1]), v6 = std::stoi(match[2]), both = std::stoi(match[3]);
  const std::pair<std::string, int> endpoints[] = {
      {"127.0.0.1", v4}, {"::1", v6}, {"127.0.0.1", both}, {"::1", both}};
  for (const auto& [host, port] : endpoints) {
    INFO(host << " port " << port);
    CHECK(http_request_to(host, port, "GET", "/metrics").status == 401);
    auto metrics = http_request_to(host, port, "GET", "/metrics", kAlice);
    CHECK(metrics.status == 200);
    CHECK(metrics.body.find("\nheartbeat_state{process=\"gone\",state=\"no_heartbeat\"} 1\n") !=
          std::string::npos);
  }
}

TEST_CASE("with basic auth every path answers 401 with a Basic challenge without credentials",
          "[integration]") {
  MissingHeartbeat fixture;
  auto web_config = fixture.dir.write("web.yml", users_yaml());
  Exporter exporter(fixture.config, fixture.dir.path(),
                    {"--web.config.file=" + web_config.string(), "--web.enable-lifecycle"});
  for (const char* path : {"/metrics", "/", "/-/healthy", "/-/ready", "/-/reload", "/nope"}) {
    INFO(path);
    auto response = http_get(exporter.port(), path);
    CHECK(response.status == 401);
    CHECK(response.headers["www-authenticate"] == kChallenge);
    CHECK(response.body.find("heartbeat") == std::string::npos);
  }
  auto reload = http_request(exporter.port(), "POST", "/-/reload");
  CHECK(reload.status == 401);
  CHECK(reload.headers["www-authenticate"] == kChallenge);
}

TEST_CASE("with basic auth a wrong password, an unknown user or another scheme answers 401",
          "[integration]") {
  MissingHeartbeat fixture;
  auto web_config = fixture.dir.write("web.yml", users_yaml());
  Exporter exporter(fixture.config, fixture.dir.path(),
                    {"--web.config.file=" + web_config.string()});
  // base64("bob:s3cret"), and alice's right credentials as a bearer token.
  for (const auto& headers :
       {kWrongPassword,
        std::map<std::string, std::string>{{"Authorization", "Basic Ym9iOnMzY3JldA=="}},
        std::map<std::string, std::string>{{"Authorization", "Bearer YWxpY2U6czNjcmV0"}}}) {
    INFO(headers.at("Authorization"));
    auto response = http_get(exporter.port(), "/metrics", headers);
    CHECK(response.status == 401);
    CHECK(response.headers["www-authenticate"] == kChallenge);
  }
}

TEST_CASE("with basic auth the right password gets the metrics and the other pages",
          "[integration]") {
  MissingHeartbeat fixture;
  auto web_config = fixture.dir.write("web.yml", users_yaml());
  Exporter exporter(fixture.config, fixture.dir.path(),
                    {"--web.config.file=" + web_config.string()});
  auto metrics = http_get(exporter.port(), "/metrics", kAlice);
  REQUIRE(metrics.status == 200);
  CHECK(metrics.headers.count("www-authenticate") == 0);
  CHECK(metrics.body.find("\nheartbeat_state{process=\"gone\",state=\"no_heartbeat\"} 1\n") !=
        std::string::npos);
  CHECK(http_get(exporter.port(), "/", kAlice).status == 200);
  CHECK(http_get(exporter.port(), "/-/healthy", kAlice).body == "Healthy\n");
  CHECK(http_get(exporter.port(), "/nope", kAlice).status == 404);
  // Right after a cached success, the wrong password is still refused.
  CHECK(http_get(exporter.port(), "/metrics", kWrongPassword).status == 401);
  CHECK(exporter.process().stderr_text().find("basic_auth=on") != std::string::npos);
}

TEST_CASE("a request refused with 401 never reaches the collector", "[integration]") {
  MissingHeartbeat fixture;
  auto web_config = fixture.dir.write("web.yml", users_yaml());
  Exporter exporter(fixture.config, fixture.dir.path(),
                    {"--web.config.file=" + web_config.string()});
  // The landing page checks every process too, so it would count a read error as well.
  for (int i = 0; i < 3; ++i) {
    REQUIRE(http_get(exporter.port(), "/metrics").status == 401);
    REQUIRE(http_get(exporter.port(), "/metrics", kWrongPassword).status == 401);
    REQUIRE(http_get(exporter.port(), "/").status == 401);
  }
  auto metrics = http_get(exporter.port(), "/metrics", kAlice);
  REQUIRE(metrics.status == 200);
  CHECK(metrics.body.find("\nheartbeat_exporter_read_errors_total{reason=\"missing\"} 1\n") !=
        std::string::npos);
}

TEST_CASE("an invalid web config fails startup with one line naming the file and the field",
          "[integration]") {
  MissingHeartbeat fixture;
  SECTION("an unsupported field") {
    auto web_config = fixture.dir.write(
        "web.yml",
        "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_allowed_sans: []\n");
    auto result = run({HEARTBEAT_EXPORTER_BINARY, "--config.file=" + fixture.config.string(),
                       "--web.config.file=" + web_config.string()});
    CHECK(result.exit_code == 1);
    CHECK(result.err.find(web_config.string() +
                          ": tls_server_config.client_allowed_sans: not supported by "
                          "heartbeat_exporter") != std::string::npos);
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
  }
  SECTION("a plain-text password") {
    auto web_config = fixture.dir.write("web.yml", "basic_auth_users:\n  alice: s3cret\n");
    auto result = run({HEARTBEAT_EXPORTER_BINARY, "--config.file=" + fixture.config.string(),
                       "--web.config.file=" + web_config.string()});
    CHECK(result.exit_code == 1);
    CHECK(result.err.find(web_config.string() +
                          ": basic_auth_users.alice: expected a bcrypt hash") != std::string::npos);
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
  }
  SECTION("a missing file") {
    auto missing = fixture.dir / "missing.yml";
    auto result = run({HEARTBEAT_EXPORTER_BINARY, "--config.file=" + fixture.config.string(),
                       "--web.config.file=" + missing.string()});
    CHECK(result.exit_code == 1);
    CHECK(result.err.find(missing.string() +
                          ": cannot read web config file: No such file or directory") !=
          std::string::npos);
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
  }
}
