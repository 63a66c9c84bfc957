// The built exporter with --web.config.file: basic auth over HTTP, and TLS through stunnel.
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

// A port on 127.0.0.1 that was free a moment ago, for the TLS listener, which needs a fixed one.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  const bool bound = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                     getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0;
  close(fd);
  REQUIRE(bound);
  return ntohs(address.sin_port);
}

// True when nothing listens on 127.0.0.1:port; SO_REUSEADDR as servers use it, so that
// connections in TIME_WAIT do not count.
bool can_listen(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok =
      bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 && listen(fd, 1) == 0;
  close(fd);
  return ok;
}

// A listening socket on 127.0.0.1:port, held until destruction.
struct HeldPort {
  explicit HeldPort(int port) : fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(listen(fd, 1) == 0);
  }
  ~HeldPort() { close(fd); }
  int fd;
};

bool process_exists(pid_t pid) { return std::filesystem::exists("/proc/" + std::to_string(pid)); }

// The child processes of `parent`, from the ppid field of /proc/<pid>/stat.
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> children;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    std::getline(stat, line);
    // The command name in parentheses may hold spaces; state and ppid follow the last ')'.
    auto close_paren = line.rfind(')');
    if (close_paren == std::string::npos) continue;
    std::istringstream rest(line.substr(close_paren + 1));
    std::string state;
    long ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) children.push_back(std::stoi(name));
  }
  return children;
}

// A folder with a heartbeat config whose one process has no heartbeat file, so that every
// check counts one read error with reason "missing".
struct MissingHeartbeat {
  TempDir dir;
  std::filesystem::path config =
      dir.write("config.json", R"({"processes": {"gone": {"heartbeat_path": "hb/gone.json"}}})");
};

// A self-signed certificate for localhost and 127.0.0.1, with a web config using it (by
// relative paths) and basic auth for alice, and the exporter serving TLS on a fixed port.
// Stops the exporter with SIGTERM on destruction, since the Subprocess's SIGKILL would leave
// stunnel behind holding the port.
class TlsExporter {
 public:
  explicit TlsExporter(const MissingHeartbeat& fixture) : dir_(fixture.dir) {
    auto made =
        run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1", "-keyout",
             (dir_ / "key.pem").string(), "-out", (dir_ / "cert.pem").string()});
    INFO(made.err);
    REQUIRE(made.exit_code == 0);
    web_config_ = dir_.write("web.yml",
                             "tls_server_config:\n  cert_file: cert.pem\n"
                             "  key_file: key.pem\n" +
                                 users_yaml());
    port_ = free_port();
    exporter_.emplace(
        fixture.config, dir_.path(),
        std::vector<std::string>{"--web.config.file=" + web_config_.string(),
                                 "--web.listen-address=127.0.0.1:" + std::to_string(port_)});
    auto children = children_of(exporter_->process().pid());
    REQUIRE(children.size() == 1);
    stunnel_ = children.front();
  }
  ~TlsExporter() {
    if (exporter_->process().running()) {
      exporter_->process().signal(SIGTERM);
      exporter_->process().wait();
    }
    if (process_exists(stunnel_)) kill(stunnel_, SIGKILL);
  }
  TlsExporter(const TlsExporter&) = delete;
  TlsExporter& operator=(const TlsExporter&) = delete;

  int port() const { return port_; }
  pid_t stunnel_pid() const { return stunnel_; }
  Subprocess& process() { return exporter_->process(); }
  std::string url(const std::string& path) const {
    return "https://localhost:" + std::to_string(port_) + path;
  }
  std::string cert() const { return (dir_ / "cert.pem").string(); }

 private:
  const TempDir& dir_;
  std::filesystem::path web_config_;
  int port_ = 0;
  std::optional<Exporter> exporter_;
  pid_t stunnel_ = -1;
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

TEST_CASE("with TLS curl trusting the certificate gets the metrics, and nothing else does",
          "[integration]") {
  MissingHeartbeat fixture;
  TlsExporter exporter(fixture);
  CHECK(exporter.process().stderr_text().find(
            "address=127.0.0.1:" + std::to_string(exporter.port()) + " tls=stunnel") !=
        std::string::npos);

  auto scraped = run({"curl", "--silent", "--show-error", "--cacert", exporter.cert(), "-u",
                      "alice:s3cret", exporter.url("/metrics")});
  INFO(scraped.err);
  CHECK(scraped.exit_code == 0);
  CHECK(scraped.out.find("\nheartbeat_state{process=\"gone\",state=\"no_heartbeat\"} 1\n") !=
        std::string::npos);

  auto no_password =
      run({"curl", "--silent", "--show-error", "--cacert", exporter.cert(), "--output", "/dev/null",
           "--write-out", "%{http_code}", exporter.url("/metrics")});
  CHECK(no_password.exit_code == 0);
  CHECK(no_password.out == "401");

  auto untrusted =
      run({"curl", "--silent", "--show-error", "-u", "alice:s3cret", exporter.url("/metrics")});
  CHECK(untrusted.exit_code == 60);
  CHECK(untrusted.out.empty());

  auto plain = run({"curl", "--silent", "--show-error", "-u", "alice:s3cret",
                    "http://127.0.0.1:" + std::to_string(exporter.port()) + "/metrics"});
  CHECK(plain.exit_code != 0);
  CHECK(plain.out.find("heartbeat") == std::string::npos);
}

TEST_CASE("SIGTERM stops the exporter and its stunnel, freeing the TLS port", "[integration]") {
  MissingHeartbeat fixture;
  TlsExporter exporter(fixture);
  REQUIRE(process_exists(exporter.stunnel_pid()));
  exporter.process().signal(SIGTERM);
  CHECK(exporter.process().wait() == 0);
  // Reaped by the exporter, not left to init: no /proc entry, not even a zombie.
  CHECK_FALSE(process_exists(exporter.stunnel_pid()));
  CHECK(can_listen(exporter.port()));
}

TEST_CASE("when stunnel dies the exporter exits 1 and says so", "[integration]") {
  MissingHeartbeat fixture;
  TlsExporter exporter(fixture);
  REQUIRE(kill(exporter.stunnel_pid(), SIGKILL) == 0);
  CHECK(exporter.process().wait() == 1);
  auto line = exporter.process().wait_for_log("stunnel exited");
  REQUIRE(line);
  CHECK(line->find("level=error msg=\"stunnel exited; cannot serve TLS without it\" pid=" +
                   std::to_string(exporter.stunnel_pid())) != std::string::npos);
}

// The exporter blocks SIGTERM for sigwait(); stunnel must not inherit that mask, or it would
// ignore SIGTERM from kill, from systemd and from the exporter's own shutdown.
TEST_CASE("SIGTERM to stunnel stops it and the exporter exits 1", "[integration]") {
  MissingHeartbeat fixture;
  TlsExporter exporter(fixture);
  REQUIRE(kill(exporter.stunnel_pid(), SIGTERM) == 0);
  CHECK(exporter.process().wait(3s) == 1);
  CHECK(exporter.process().stderr_text().find("stunnel exited") != std::string::npos);
}

TEST_CASE("a TLS port already in use fails startup with one line and starts no stunnel",
          "[integration]") {
  MissingHeartbeat fixture;
  auto made = run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                   "/CN=localhost", "-days", "1", "-keyout", (fixture.dir / "key.pem").string(),
                   "-out", (fixture.dir / "cert.pem").string()});
  REQUIRE(made.exit_code == 0);
  auto web_config = fixture.dir.write(
      "web.yml", "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n");
  const int port = free_port();
  const std::string address = "127.0.0.1:" + std::to_string(port);
  {
    HeldPort held(port);
    auto result =
        run({HEARTBEAT_EXPORTER_BINARY, "--config.file=" + fixture.config.string(),
             "--web.config.file=" + web_config.string(), "--web.listen-address=" + address});
    CHECK(result.exit_code == 1);
    CHECK(result.err.find("cannot listen on " + address + ": Address already in use") !=
          std::string::npos);
    // A started stunnel would have logged its own bind failure.
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
  }
  CHECK(can_listen(port));
}

TEST_CASE("TLS startup errors are a clear message and exit 1", "[integration]") {
  MissingHeartbeat fixture;
  SECTION("TLS on port 0") {
    fixture.dir.write("c", "certificate");
    fixture.dir.write("k", "key");
    auto web_config =
        fixture.dir.write("web.yml", "tls_server_config:\n  cert_file: c\n  key_file: k\n");
    auto result =
        run({HEARTBEAT_EXPORTER_BINARY, "--config.file=" + fixture.config.string(),
             "--web.config.file=" + web_config.string(), "--web.listen-address=127.0.0.1:0"});
    CHECK(result.exit_code == 1);
    CHECK(result.err.find("TLS needs a fixed port in --web.listen-address, not port 0") !=
          std::string::npos);
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
  }
  SECTION("a certificate file that does not exist") {
    auto web_config = fixture.dir.write(
        "web.yml", "tls_server_config:\n  cert_file: nope.pem\n  key_file: nope.key\n");
    const std::string address = "127.0.0.1:" + std::to_string(free_port());
    auto result =
        run({HEARTBEAT_EXPORTER_BINARY, "--config.file=" + fixture.config.string(),
             "--web.config.file=" + web_config.string(), "--web.listen-address=" + address});
    INFO(result.err);
    CHECK(result.exit_code == 1);
    CHECK(result.err.find(web_config.string() + ": tls_server_config.cert_file: cannot read \\\"" +
                          (fixture.dir / "nope.pem").string() +
                          "\\\": No such file or directory") != std::string::npos);
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
  }
}

TEST_CASE("an invalid web config fails startup with one line naming the file and the field",
          "[integration]") {
  MissingHeartbeat fixture;
  SECTION("an unsupported field") {
    auto web_config = fixture.dir.write(
        "web.yml", "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_ca_file: ca\n");
    auto result = run({HEARTBEAT_EXPORTER_BINARY, "--config.file=" + fixture.config.string(),
                       "--web.config.file=" + web_config.string()});
    CHECK(result.exit_code == 1);
    CHECK(result.err.find(web_config.string() +
                          ": tls_server_config.client_ca_file: not supported by "
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
