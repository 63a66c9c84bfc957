#pragma once

#include <map>
#include <string>

namespace heartbeat_exporter::testing {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;                            // as received (still gzip-encoded if it was)
};

// A minimal HTTP/1.1 client over a real TCP socket to 127.0.0.1, enough to test the exporter
// the way Prometheus talks to it. `extra_headers` are full lines without the CRLF. Throws on
// connection errors; gives up after 10 s.
HttpResponse http_request(int port, const std::string& method, const std::string& path,
                          const std::map<std::string, std::string>& extra_headers = {});

// The same to an IPv4 or IPv6 literal ("127.0.0.1", "::1").
HttpResponse http_request_to(const std::string& host, int port, const std::string& method,
                             const std::string& path,
                             const std::map<std::string, std::string>& extra_headers = {});

inline HttpResponse http_get(int port, const std::string& path,
                             const std::map<std::string, std::string>& extra_headers = {}) {
  return http_request(port, "GET", path, extra_headers);
}

// One kept-alive HTTP/1.1 connection. Each request reads exactly its response (Content-Length
// bytes; none after HEAD), so that a body sent where none belongs garbles the next response,
// which then throws. Throws on connection errors; gives up after 10 s.
class HttpConnection {
 public:
  HttpConnection(const std::string& host, int port);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  HttpResponse request(const std::string& method, const std::string& path,
                       const std::map<std::string, std::string>& extra_headers = {});

 private:
  std::string authority_;
  int fd_;
  std::string buffered_;  // received beyond the last response
};

std::string gunzip(const std::string& compressed);

}  // namespace heartbeat_exporter::testing
