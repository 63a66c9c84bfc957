#include "fault/misbehaving_clients.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <exception>

#include "support/http_client.h"

namespace heartbeat_exporter::testing {
namespace {

using Clock = std::chrono::steady_clock;

// "Basic " + base64("alice:wrong").
constexpr const char* kWrongCredentials = "Basic YWxpY2U6d3Jvbmc=";

void set_non_blocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Sends what the socket takes now; false when the connection failed.
bool send_some(int fd, const std::string& data) {
  const ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  return sent >= 0 || errno == EAGAIN || errno == EWOULDBLOCK;
}

}  // namespace

int connect_loopback(int port, int receive_buffer) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  // Before connect(), so that the window the client announces is small from the start.
  if (receive_buffer > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  // connect() gives up after this too.
  const timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t sent = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (sent <= 0) return false;
    done += static_cast<std::size_t>(sent);
  }
  return true;
}

Closing wait_for_close(int fd, std::chrono::milliseconds timeout, const std::string& drip,
                       std::chrono::milliseconds drip_every) {
  Closing closing;
  const auto start = Clock::now();
  auto next_drip = start + drip_every;
  while (Clock::now() - start < timeout) {
    pollfd poll_fd{fd, POLLIN, 0};
    if (::poll(&poll_fd, 1, 20) > 0) {
      char buffer[4096];
      const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
      if (got <= 0) {
        closing.closed = true;
        break;
      }
      closing.received.append(buffer, static_cast<std::size_t>(got));
    }
    if (!drip.empty() && Clock::now() >= next_drip) {
      // A failed send means a reset: the next recv() says so.
      send_some(fd, drip);
      next_drip += drip_every;
    }
  }
  closing.after = Clock::now() - start;
  return closing;
}

void raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

Attack::Attack(int port, Misbehaviour misbehaviour, std::size_t connections)
    : port_(port), misbehaviour_(misbehaviour), connections_(connections) {
  if (misbehaviour == Misbehaviour::kWrongPassword) {
    for (std::size_t i = 0; i < connections; ++i) threads_.emplace_back([this] { run_guesser(); });
  } else {
    threads_.emplace_back([this] { run_sockets(); });
  }
}

Attack::~Attack() { stop(); }

void Attack::stop() {
  stop_ = true;
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

std::map<int, std::size_t> Attack::statuses() const {
  return {{401, answered_401_.load()}, {503, answered_503_.load()}, {0, answered_other_.load()}};
}

void Attack::run_sockets() {
  const bool slowloris = misbehaviour_ == Misbehaviour::kSlowloris;
  const std::string request_line = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  const std::string drip = "X-Slow: 1\r\n";
  std::string pipelined;
  for (int i = 0; i < 16; ++i) pipelined += request_line + "\r\n";

  std::vector<int> fds(connections_, -1);
  auto close_one = [this](int& fd, bool by_server) {
    ::close(fd);
    fd = -1;
    --open_;
    if (by_server) ++closed_by_server_;
  };
  auto next_drip = Clock::now();
  std::vector<pollfd> poll_fds;
  while (!stop_) {
    for (int& fd : fds) {
      if (fd >= 0) continue;
      // A small receive buffer: a client that reads nothing wants the server to stall soon.
      fd = connect_loopback(port_, slowloris ? 0 : 4096);
      if (fd < 0) continue;
      set_non_blocking(fd);
      ++open_;
      if (slowloris) send_some(fd, request_line);
    }
    const bool drip_now = Clock::now() >= next_drip;
    if (drip_now) next_drip += std::chrono::seconds(1);
    poll_fds.clear();
    for (int& fd : fds) {
      if (fd < 0) continue;
      bool alive = true;
      if (slowloris && drip_now) alive = send_some(fd, drip);
      if (!slowloris) {
        alive = send_some(fd, pipelined);
        if (alive) requests_ += 16;
      }
      if (!alive) {
        close_one(fd, true);
        continue;
      }
      // A client that never reads waits only for a reset; POLLIN would never go away.
      poll_fds.push_back({fd, static_cast<short>(slowloris ? POLLIN : POLLRDHUP), 0});
    }
    if (::poll(poll_fds.data(), poll_fds.size(), 100) <= 0) continue;
    for (const auto& poll_fd : poll_fds) {
      if (poll_fd.revents == 0) continue;
      char buffer[4096];
      if (slowloris && (poll_fd.revents & POLLIN) != 0 &&
          ::recv(poll_fd.fd, buffer, sizeof buffer, MSG_DONTWAIT) > 0) {
        continue;
      }
      for (int& fd : fds) {
        if (fd == poll_fd.fd) close_one(fd, true);
      }
    }
  }
  for (int& fd : fds) {
    if (fd >= 0) close_one(fd, false);
  }
}

void Attack::run_guesser() {
  const std::map<std::string, std::string> wrong = {{"Authorization", kWrongCredentials}};
  while (!stop_) {
    try {
      HttpConnection connection("127.0.0.1", port_);
      ++open_;
      struct Closed {
        std::atomic<std::size_t>& open;
        ~Closed() { --open; }
      } closed{open_};
      while (!stop_) {
        const HttpResponse response = connection.request("GET", "/metrics", wrong);
        ++requests_;
        if (response.status == 401) {
          ++answered_401_;
        } else if (response.status == 503) {
          ++answered_503_;
        } else {
          ++answered_other_;
        }
      }
    } catch (const std::exception&) {
      // The server closed the connection: open another.
      ++closed_by_server_;
    }
  }
}

}  // namespace heartbeat_exporter::testing
