// Stage 6, web: the HTTP server: /metrics, the landing page, health, reload, basic auth.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "metrics/collector.h"
#include "web/basic_auth.h"

class CivetServer;
struct mg_connection;

namespace heartbeat_exporter {

// Turns --web.listen-address (":9100", "127.0.0.1:9100", "[::1]:9100", "localhost:9100") into
// civetweb's listening_ports syntax. Returns nullopt when it is not an address we can bind.
std::optional<std::string> to_civetweb_listening_port(std::string_view address);

// Why listening on a --web.listen-address fails, found by binding it for a moment; nullopt
// when it can be bound.
std::optional<std::string> bind_failure(std::string_view listen_address);

// True when an Accept-Encoding header value allows gzip (a "gzip" token whose q is not 0).
bool accepts_gzip(std::string_view accept_encoding);

struct WebOptions {
  std::string listen_address = ":10180";
  std::string telemetry_path = "/metrics";
  // Serves POST /-/reload when set (--web.enable-lifecycle): returns the error that kept the
  // old config, or nullopt.
  std::function<std::optional<std::string>()> reload;
  // HTTP basic auth for every path when not empty: user -> bcrypt hash.
  std::map<std::string, std::string> basic_auth_users;
};

// The HTTP face of the exporter. Routes:
//   <telemetry path>  the exposition (gzip when asked), a fresh check per request
//   /                 landing page
//   /-/healthy        200 while the process runs
//   /-/ready          200 once the server is serving
//   /-/reload         POST reloads the config when lifecycle is enabled, else 403
//   anything else     404; methods other than GET and HEAD: 405
// With basic auth configured, every path answers 401 without valid credentials, before any
// work is done for the request.
// prometheus-cpp's Exposer owns its CivetServer privately and gives a request callback no way
// back to its owner, so it cannot serve these routes; this class does, with prometheus-cpp's
// Collectable and TextSerializer doing the metrics part as they do inside the Exposer.
class WebServer {
 public:
  // Starts serving. Throws std::runtime_error with a one-line reason when the address is
  // invalid or cannot be bound.
  WebServer(const WebOptions& options, std::shared_ptr<HeartbeatCollector> collector);
  ~WebServer();
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  // "host:port" for each bound socket, with the real port when 0 was asked for.
  std::string listening_address() const;
  // The first bound port.
  int port() const;

 private:
  static int begin_request(mg_connection* conn);
  int handle(mg_connection* conn) const;
  int serve_metrics(mg_connection* conn, bool head) const;
  int serve_landing_page(mg_connection* conn, bool head) const;
  int serve_reload(mg_connection* conn, std::string_view method) const;

  WebOptions options_;
  std::string bind_host_;
  std::shared_ptr<HeartbeatCollector> collector_;
  BasicAuth auth_;
  std::unique_ptr<CivetServer> server_;
};

}  // namespace heartbeat_exporter
