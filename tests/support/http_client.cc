#include "support/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace heartbeat_exporter::testing {
namespace {

struct Socket {
  int fd;
  ~Socket() {
    if (fd >= 0) close(fd);
  }
};

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

}  // namespace

namespace {

// A connected TCP socket to an IPv4 or IPv6 literal, with 10 s timeouts; "authority" is how a
// Host header names it.
int connect_to(const std::string& host, int port, std::string& authority) {
  const bool v6 = host.find(':') != std::string::npos;
  const int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  Socket sock{fd};
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_storage address{};
  socklen_t size = 0;
  bool parsed = false;
  if (v6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    parsed = inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1;
    size = sizeof *in6;
  } else {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&address);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(static_cast<uint16_t>(port));
    parsed = inet_pton(AF_INET, host.c_str(), &in4->sin_addr) == 1;
    size = sizeof *in4;
  }
  if (!parsed) throw std::invalid_argument("not an IP address: " + host);
  authority = (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), size) != 0) {
    throw std::system_error(errno, std::generic_category(), "connect " + authority);
  }
  sock.fd = -1;
  return fd;
}

void send_request(int fd, const std::string& authority, const std::string& method,
                  const std::string& path, const std::map<std::string, std::string>& extra_headers,
                  bool keep_alive) {
  std::string request = method + " " + path + " HTTP/1.1\r\nHost: " + authority + "\r\n";
  if (!keep_alive) request += "Connection: close\r\n";
  for (const auto& [name, value] : extra_headers) request += name + ": " + value + "\r\n";
  request += "\r\n";
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    throw std::system_error(errno, std::generic_category(), "send");
  }
}

// Reads more bytes into raw; false at the end of the stream.
bool receive_more(int fd, std::string& raw) {
  char buffer[65536];
  for (;;) {
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      raw.append(buffer, static_cast<std::size_t>(n));
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::system_error(errno, std::generic_category(), "recv");
    return false;
  }
}

// The status line and headers of a response (without the blank line).
HttpResponse parse_head(const std::string& head) {
  if (head.rfind("HTTP/1.", 0) != 0) throw std::runtime_error("not a status line: " + head);
  HttpResponse response;
  auto line_end = head.find("\r\n");
  std::string status_line = head.substr(0, line_end);
  response.status = std::stoi(status_line.substr(status_line.find(' ') + 1));
  std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    auto end = head.find("\r\n", pos);
    if (end == std::string::npos) end = head.size();
    std::string line = head.substr(pos, end - pos);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      response.headers[lower(line.substr(0, colon))] = value;
    }
    pos = end + 2;
  }
  return response;
}

}  // namespace

HttpResponse http_request(int port, const std::string& method, const std::string& path,
                          const std::map<std::string, std::string>& extra_headers) {
  return http_request_to("127.0.0.1", port, method, path, extra_headers);
}

HttpResponse http_request_to(const std::string& host, int port, const std::string& method,
                             const std::string& path,
                             const std::map<std::string, std::string>& extra_headers) {
  std::string authority;
  Socket sock{connect_to(host, port, authority)};
  send_request(sock.fd, authority, method, path, extra_headers, false);
  std::string raw;
  while (receive_more(sock.fd, raw)) {
  }
  auto header_end = raw.find("\r\n\r\n");
  if (header_end == std::string::npos) throw std::runtime_error("malformed response: " + raw);
  HttpResponse response = parse_head(raw.substr(0, header_end));
  response.body = raw.substr(header_end + 4);
  return response;
}

HttpConnection::HttpConnection(const std::string& host, int port)
    : fd_(connect_to(host, port, authority_)) {}

HttpConnection::~HttpConnection() { close(fd_); }

HttpResponse HttpConnection::request(const std::string& method, const std::string& path,
                                     const std::map<std::string, std::string>& extra_headers) {
  send_request(fd_, authority_, method, path, extra_headers, true);
  std::size_t header_end;
  while ((header_end = buffered_.find("\r\n\r\n")) == std::string::npos) {
    if (!receive_more(fd_, buffered_)) {
      throw std::runtime_error("connection closed before a response; got: " + buffered_);
    }
  }
  HttpResponse response = parse_head(buffered_.substr(0, header_end));
  buffered_.erase(0, header_end + 4);
  // A response to HEAD has no body whatever its Content-Length says (RFC 9110, 9.3.2).
  std::size_t length = 0;
  if (method != "HEAD" && response.headers.count("content-length") != 0) {
    length = std::stoul(response.headers["content-length"]);
  }
  while (buffered_.size() < length) {
    if (!receive_more(fd_, buffered_)) throw std::runtime_error("connection closed in a body");
  }
  response.body = buffered_.substr(0, length);
  buffered_.erase(0, length);
  return response;
}

std::string gunzip(const std::string& compressed) {
  z_stream stream{};
  if (inflateInit2(&stream, 15 + 16) != Z_OK) throw std::runtime_error("inflateInit2");
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  char buffer[65536];
  int result = Z_OK;
  while (result == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof buffer;
    result = inflate(&stream, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - stream.avail_out);
  }
  inflateEnd(&stream);
  if (result != Z_STREAM_END) throw std::runtime_error("not a complete gzip stream");
  return out;
}

}  // namespace heartbeat_exporter::testing
