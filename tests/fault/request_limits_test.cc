// The web server's limits on a single misbehaving connection, over real loopback sockets: a
// request header too large, one sent too slowly, and a client that never reads its responses.
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fault/fault_support.h"
#include "fault/misbehaving_clients.h"
#include "heartbeat_exporter/writer.h"
#include "soak/load.h"
#include "support/temp_dir.h"

using namespace heartbeat_exporter::testing;
using namespace std::chrono_literals;

namespace {

// The exporter over 50 healthy heartbeats.
struct ServedFleet {
  TempDir dir;
  std::unique_ptr<WrappedExporter> exporter;

  ServedFleet() {
    for (int i = 0; i < 50; ++i) {
      heartbeat_exporter::HeartbeatWriter(dir / "hb", "job-" + std::to_string(i)).beat();
    }
    const auto config = dir.write("config.json", R"({"heartbeat_dirs": [{"path": "hb"}]})");
    exporter = std::make_unique<WrappedExporter>(std::vector<std::string>{}, config, dir.path());
  }
  int port() const { return exporter->port(); }
};

// The status of the first response in `received`, 0 when there is none.
int first_status(const std::string& received) {
  if (!received.starts_with("HTTP/1.1 ") || received.size() < 12) return 0;
  return std::stoi(received.substr(9, 3));
}

}  // namespace

TEST_CASE("a request header larger than 8 KiB is refused with a 4xx and the connection closed",
          "[fault]") {
  ServedFleet fleet;
  const int fd = connect_loopback(fleet.port());
  REQUIRE(fd >= 0);
  const std::string huge =
      "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(16 << 10, 'a') +
      "\r\n\r\n";
  // The server may stop reading, and reset, before all of it is sent.
  send_all(fd, huge);
  const Closing closing = wait_for_close(fd, 10s);
  ::close(fd);
  INFO("received: " << closing.received.substr(0, 200));
  CHECK(closing.closed);
  CHECK(closing.after < 3s);
  // Closed before or after a 4xx; never served.
  const int status = first_status(closing.received);
  CHECK((status == 0 || (status >= 400 && status < 500)));
  CHECK(scrape(fleet.port()).exposition);
}

TEST_CASE("a request whose headers take longer than 5 s is closed unanswered after 5 s",
          "[fault]") {
  ServedFleet fleet;
  const int fd = connect_loopback(fleet.port());
  REQUIRE(fd >= 0);
  REQUIRE(send_all(fd, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  // One header line every 200 ms: the connection is never idle, the request never complete.
  const Closing closing = wait_for_close(fd, 15s, "X-Slow: 1\r\n", 200ms);
  ::close(fd);
  INFO("received: " << closing.received.substr(0, 200));
  REQUIRE(closing.closed);
  std::printf("slow header closed after %.2f s (read timeout 5 s)\n", closing.after.count());
  CHECK(closing.after > 4.5s);
  CHECK(closing.after < 7s);
  CHECK(first_status(closing.received) != 200);
}

TEST_CASE("a connection that sends nothing is closed after 5 s", "[fault]") {
  ServedFleet fleet;
  const int fd = connect_loopback(fleet.port());
  REQUIRE(fd >= 0);
  const Closing closing = wait_for_close(fd, 15s);
  ::close(fd);
  REQUIRE(closing.closed);
  CHECK(closing.after > 4.5s);
  CHECK(closing.after < 7s);
  CHECK(closing.received.empty());
}

TEST_CASE("a client that pipelines requests and never reads is given up and closed", "[fault]") {
  ServedFleet fleet;
  // A small receive buffer, so that the server's writes stall after a few responses.
  const int fd = connect_loopback(fleet.port(), 4096);
  REQUIRE(fd >= 0);
  std::string pipelined;
  for (int i = 0; i < 200; ++i) pipelined += "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  // Kept alive as before, the server would wait 5 s on each of the 200 before giving up.
  const timeval send_timeout{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  const auto start = std::chrono::steady_clock::now();
  send_all(fd, pipelined);
  // Reads nothing: waits for the reset (or the FIN) without taking any bytes.
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() - start < 30s) {
    int error = 0;
    socklen_t size = sizeof error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size);
    char byte = 0;
    closed = error != 0 || ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0 ||
             ::send(fd, "\r\n", 2, MSG_NOSIGNAL | MSG_DONTWAIT) < 0;
    if (!closed) std::this_thread::sleep_for(100ms);
  }
  const std::chrono::duration<double> after = std::chrono::steady_clock::now() - start;
  ::close(fd);
  std::printf("non-reading pipeliner closed after %.2f s (write timeout 5 s)\n", after.count());
  CHECK(closed);
  CHECK(after < 15s);
  CHECK(scrape(fleet.port()).exposition);
}

TEST_CASE("a tasks limit below --web.max-connections fails the start with one line saying so",
          "[fault]") {
  TempDir dir;
  require_root_and_reachable(dir.path());
  const auto config = dir.write("config.json", R"({"heartbeat_dirs": [{"path": "hb"}]})");
  ::chmod(config.c_str(), 0644);
  // RLIMIT_NPROC counts all the threads of the user, so a uid nothing else runs as (nobody may
  // be busy in other tests): it may start 300 threads, not 1,024.
  // Under AddressSanitizer, LeakSanitizer's check at exit needs a thread of its own, which this
  // very limit refuses: a fatal LSan error instead of the exporter's exit status. Leaks are the
  // other tests' business.
  std::string asan_options = "ASAN_OPTIONS=";
  if (const char* options = std::getenv("ASAN_OPTIONS")) asan_options += std::string(options) + ":";
  asan_options += "detect_leaks=0";
  std::vector<std::string> argv = {"env",     asan_options,    "prlimit",       "--nproc=300",
                                   "setpriv", "--reuid=64123", "--regid=64123", "--clear-groups"};
  argv.insert(argv.end(), {HEARTBEAT_EXPORTER_BINARY, "--config.file=" + config.string(),
                           "--web.listen-address=127.0.0.1:0"});
  const RunResult result = run(argv);
  INFO(result.err);
  CHECK(result.exit_code == 1);
  CHECK(log_lines(result.err, {"cannot start 1024 web worker threads",
                               "lower --web.max-connections or raise the tasks limit"})
            .size() == 1);
}

TEST_CASE("an open file limit too low for --web.max-connections serves fewer, with a warning",
          "[fault]") {
  TempDir dir;
  heartbeat_exporter::HeartbeatWriter(dir / "hb", "job").beat();
  const auto config = dir.write("config.json", R"({"heartbeat_dirs": [{"path": "hb"}]})");
  // Each connection needs its socket and its worker's eventfd, and 256 are kept for the rest.
  WrappedExporter exporter({"prlimit", "--nofile=600:600"}, config, dir.path());
  const std::string log = exporter.process().stderr_text();
  CHECK(
      log_lines(log, {"level=warn", "open_files_limit=600", "max_connections=1024", "serving=172"})
          .size() == 1);
  CHECK(log_lines(log, {"serving connections", "max_connections=172"}).size() == 1);
  CHECK(scrape(exporter.port()).exposition);
}
