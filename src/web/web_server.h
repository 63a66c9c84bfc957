// Stage 6, web: the HTTP server: /metrics, the landing page, health, reload, basic auth.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "metrics/collector.h"
#include "metrics/single_flight.h"
#include "web/basic_auth.h"
#include "web/tls_context.h"

class CivetServer;
struct mg_connection;

namespace heartbeat_exporter {

// Turns a --web.listen-address (":9100", "127.0.0.1:9100", "[::1]:9100", "localhost:9100") into
// civetweb's listening_ports syntax. An empty host listens on IPv4 and IPv6 ("+9100"), "[::]"
// on IPv6 only and "0.0.0.0" on IPv4 only, so that the last two can be given together. Returns
// nullopt when it is not an address we can bind.
std::optional<std::string> to_civetweb_listening_port(std::string_view address);

// The first of the listen addresses that cannot be bound while the ones before it are, and why;
// nullopt when all of them can be bound together.
struct BindFailure {
  std::string address;
  std::string reason;
};
std::optional<BindFailure> bind_failure(const std::vector<std::string>& listen_addresses);

// True when an Accept-Encoding header value allows gzip (a "gzip" token whose q is not 0).
bool accepts_gzip(std::string_view accept_encoding);

// civetweb gives each connection one worker thread for as long as it stays open, so the number
// of workers is the number of connections served at once (README: Misbehaving clients): enough
// that a thousand slow or idle clients leave workers for scrapes. Each costs about 38 KiB while
// idle (16 of them resident, the rest the kernel's), so 1,024 cost 40 MiB and 2,048 twice that.
inline constexpr unsigned kDefaultMaxConnections = 1024;
// civetweb's own ceiling on worker threads.
inline constexpr unsigned kMaxConnectionsCeiling = 65536;

struct WebOptions {
  // --web.listen-address, one or more: every address serves the same routes and basic auth.
  std::vector<std::string> listen_addresses = {":10180"};
  std::string telemetry_path = "/metrics";
  // Serves POST /-/reload when set (--web.enable-lifecycle): returns the error that kept the
  // old config, or nullopt.
  std::function<std::optional<std::string>()> reload;
  // HTTP basic auth for every path when not empty: user -> bcrypt hash.
  std::map<std::string, std::string> basic_auth_users;
  // TLS on every listen address when set.
  std::shared_ptr<TlsContext> tls;
  // --web.max-connections: civetweb's worker threads, each serving one connection at a time.
  unsigned max_connections = kDefaultMaxConnections;
};

// The HTTP face of the exporter. Routes:
//   <telemetry path>  the exposition (gzip when asked), a fresh check per request
//   /                 landing page
//   /-/healthy        200 while the process runs
//   /-/ready          200 once the server is serving
//   /-/reload         POST reloads the config when lifecycle is enabled, else 403
//   anything else     404; methods other than GET and HEAD: 405
// With basic auth configured, every path answers 401 without valid credentials, before any
// work is done for the request. A client that stops reading is given up: a write that makes no
// progress for 5 s, or a response still unsent after 60 s, closes the connection.
// prometheus-cpp's Exposer owns its CivetServer privately and gives a request callback no way
// back to its owner, so it cannot serve these routes; this class does, and HeartbeatCollector
// makes the exposition it serves.
class WebServer {
 public:
  // Starts serving. Throws std::runtime_error with a one-line reason when the address is
  // invalid or cannot be bound.
  WebServer(const WebOptions& options, std::shared_ptr<HeartbeatCollector> collector);
  ~WebServer();
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  // Each listen address with the real port when 0 was asked for (localhost as 127.0.0.1),
  // comma-separated: ":10180,[::1]:10181".
  std::string listening_address() const;
  // The first bound port.
  int port() const;
  // How many connections are served at once; more wait for a worker in the kernel's backlog.
  unsigned max_connections() const { return options_.max_connections; }

  // Replaces the basic auth users (a web config reload); requests already past the check keep
  // their answer.
  void set_basic_auth_users(const std::map<std::string, std::string>& users);

 private:
  static int log_message(const mg_connection* conn, const char* message);
  static int begin_request(mg_connection* conn);
  static int init_ssl(void* ssl_ctx, void* user_data);
  std::shared_ptr<BasicAuth> auth() const;
  int handle(mg_connection* conn);
  int serve_metrics(mg_connection* conn, bool head) const;
  int serve_landing_page(mg_connection* conn, bool head);
  int serve_reload(mg_connection* conn, std::string_view method) const;

  WebOptions options_;
  std::shared_ptr<HeartbeatCollector> collector_;
  mutable std::mutex auth_mutex_;  // guards auth_
  std::shared_ptr<BasicAuth> auth_;
  // Landing pages asked for together share one check and one rendering, as scrapes share one
  // collection: each check of a large fleet takes tens of MiB.
  SingleFlight<std::shared_ptr<const std::string>> landing_page_;
  // The first error civetweb logged while the constructor started it, on that thread.
  std::thread::id constructor_thread_ = std::this_thread::get_id();
  std::string start_error_;
  std::unique_ptr<CivetServer> server_;
};

}  // namespace heartbeat_exporter
