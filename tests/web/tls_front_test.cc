#include "web/tls_front.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

// Shows optional values in failure messages instead of "{?}".
#define CATCH_CONFIG_ENABLE_OPTIONAL_STRINGMAKER

#include <catch2/catch.hpp>
#include <optional>
#include <string>

#include "web/web_server.h"

namespace heartbeat_exporter {
namespace {

// A TCP socket on 127.0.0.1 with a port the kernel picked; listening when asked, closed on
// destruction.
class LoopbackSocket {
 public:
  explicit LoopbackSocket(bool listening) : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    if (listening) REQUIRE(listen(fd_, 1) == 0);
    socklen_t size = sizeof address;
    REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) == 0);
    port_ = ntohs(address.sin_port);
  }
  ~LoopbackSocket() { close(); }
  LoopbackSocket(const LoopbackSocket&) = delete;
  LoopbackSocket& operator=(const LoopbackSocket&) = delete;

  int port() const { return port_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  int port_ = 0;
};

TEST_CASE("listen addresses become stunnel accept addresses") {
  CHECK(to_stunnel_accept(":10180") == ":::10180");
  CHECK(to_stunnel_accept("127.0.0.1:1") == "127.0.0.1:1");
  CHECK(to_stunnel_accept("0.0.0.0:443") == "0.0.0.0:443");
  CHECK(to_stunnel_accept("[::1]:5") == "::1:5");
  CHECK(to_stunnel_accept("[::]:8443") == ":::8443");
  CHECK(to_stunnel_accept("localhost:7") == "127.0.0.1:7");
}

TEST_CASE("listen addresses that cannot be bound have no stunnel accept address") {
  for (const char* address : {"", "10180", "example.com:80", "[::1]9100", ":65536", "::1:5"}) {
    INFO('"' << address << '"');
    CHECK(to_stunnel_accept(address) == std::nullopt);
  }
}

// Why a single listen address cannot be bound.
std::optional<std::string> bind_failure_of(const std::string& address) {
  auto failure = bind_failure({address});
  if (!failure) return std::nullopt;
  return failure->reason;
}

TEST_CASE("a port someone listens on is reported as already in use") {
  LoopbackSocket held(true);
  const std::string port = std::to_string(held.port());
  CHECK(bind_failure_of("127.0.0.1:" + port) == "Address already in use");
  CHECK(bind_failure_of("localhost:" + port) == "Address already in use");
  // Every address includes 127.0.0.1.
  CHECK(bind_failure_of(":" + port) == "Address already in use");
}

TEST_CASE("a free port has no bind failure, and the check leaves it free") {
  LoopbackSocket probe(false);
  const std::string address = "127.0.0.1:" + std::to_string(probe.port());
  probe.close();
  CHECK(bind_failure_of(address) == std::nullopt);
  CHECK(bind_failure_of(address) == std::nullopt);
}

TEST_CASE("an address that is not a listen address is an invalid address") {
  CHECK(bind_failure_of("example.com:80") == "invalid address");
  CHECK(bind_failure_of("10180") == "invalid address");
}

}  // namespace
}  // namespace heartbeat_exporter
