#include "web/web_server.h"

#include <CivetServer.h>
#include <arpa/inet.h>
#include <civetweb.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <thread>
#include <vector>

#include "util/log.h"
#include "web/landing_page.h"

namespace heartbeat_exporter {
namespace {

constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// Expositions larger than this give their memory back after the scrape; smaller ones keep it,
// since giving it back costs page faults on the next scrape.
constexpr std::size_t kTrimAfterBytes = 16 << 20;

std::optional<int> parse_port(std::string_view text) {
  // Unsigned, so that from_chars refuses a sign ("-0").
  unsigned port = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (error != std::errc() || end != text.data() + text.size() || port > 65535) {
    return std::nullopt;
  }
  return port;
}

bool is_ipv4_literal(std::string_view host) {
  int parts = 0;
  while (!host.empty()) {
    auto dot = host.find('.');
    auto part = host.substr(0, dot);
    // Unsigned, so that from_chars refuses a sign: "-1.2.3.4" is no address.
    unsigned value = 0;
    auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || part.size() > 3 || error != std::errc() ||
        end != part.data() + part.size() || value > 255) {
      return false;
    }
    ++parts;
    if (dot == std::string_view::npos) break;
    host.remove_prefix(dot + 1);
    if (host.empty()) return false;
  }
  return parts == 4;
}

// How long a client may take to send a request's headers once connected, and how long one write
// may wait for a client that reads nothing (civetweb's request_timeout_ms is both). A scraper
// sends its request at once and reads what it asked for; anything slower is holding a worker.
constexpr int kRequestTimeoutMs = 5000;
// How long a kept-alive connection may wait for its next request. Prometheus scrapes every 15 s
// or more, so it reconnects either way; an idle connection would only hold a worker.
constexpr int kKeepAliveTimeoutMs = 500;
// A request's line and headers must fit in this; a larger one is answered 4xx and closed.
// Prometheus sends a few hundred bytes.
constexpr int kMaxRequestHeaderBytes = 8192;
// A response still not sent after this is given up, however slowly its client keeps reading:
// Prometheus gives up far earlier (scrape_timeout is at most the scrape interval).
constexpr std::chrono::seconds kResponseDeadline{60};
// Responses are written this much at a time, so that the deadline is checked between pieces.
constexpr std::size_t kWriteChunkBytes = 64 << 10;

// Writes one response. A write that fails (the client is gone, or read nothing for
// kRequestTimeoutMs) or the response deadline passing gives the connection up: nothing more is
// written to it and civetweb closes it instead of reading the next pipelined request.
class ResponseWriter {
 public:
  explicit ResponseWriter(mg_connection* conn)
      : conn_(conn), deadline_(std::chrono::steady_clock::now() + kResponseDeadline) {}

  // False once the connection has been given up.
  bool write(std::string_view data) {
    while (!failed_ && !data.empty()) {
      const auto chunk = data.substr(0, kWriteChunkBytes);
      if (std::chrono::steady_clock::now() > deadline_ ||
          mg_write(conn_, chunk.data(), chunk.size()) != static_cast<int>(chunk.size())) {
        give_up();
      }
      data.remove_prefix(chunk.size());
    }
    return !failed_;
  }

 private:
  void give_up() {
    failed_ = true;
    mg_disable_connection_keep_alive(conn_);
    const mg_request_info* request = mg_get_request_info(conn_);
    log::debug("gave up a client that did not read its response",
               {{"remote", request != nullptr ? request->remote_addr : ""}});
  }

  mg_connection* conn_;
  std::chrono::steady_clock::time_point deadline_;
  bool failed_ = false;
};

std::string status_and_headers(int status, std::string_view reason, std::string_view content_type,
                               std::size_t content_length, std::string_view extra_headers) {
  std::string headers = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  headers += "Content-Type: " + std::string(content_type) + "\r\n";
  headers += "Content-Length: " + std::to_string(content_length) + "\r\n";
  headers += extra_headers;
  headers += "\r\n";
  return headers;
}

int send(mg_connection* conn, int status, std::string_view reason, std::string_view content_type,
         std::string_view body, bool head, std::string_view extra_headers = {}) {
  ResponseWriter writer(conn);
  if (writer.write(status_and_headers(status, reason, content_type, body.size(), extra_headers)) &&
      !head) {
    writer.write(body);
  }
  return status;
}

int send_text(mg_connection* conn, int status, std::string_view reason, std::string_view body,
              bool head, std::string_view extra_headers = {}) {
  return send(conn, status, reason, "text/plain; charset=utf-8", body, head, extra_headers);
}

}  // namespace

std::optional<std::string> to_civetweb_listening_port(std::string_view address) {
  auto colon = address.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto host = address.substr(0, colon);
  auto port = parse_port(address.substr(colon + 1));
  if (!port) return std::nullopt;
  std::string port_text = std::to_string(*port);
  // Like Go's net.Listen, an empty host means every address, IPv4 and IPv6 ("+" in civetweb).
  if (host.empty()) return "+" + port_text;
  if (host == "localhost") return "127.0.0.1:" + port_text;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    in6_addr ignored{};
    std::string literal(host.substr(1, host.size() - 2));
    if (inet_pton(AF_INET6, literal.c_str(), &ignored) != 1) return std::nullopt;
    return std::string(host) + ":" + port_text;
  }
  if (is_ipv4_literal(host)) return std::string(host) + ":" + port_text;
  return std::nullopt;
}

std::optional<BindFailure> bind_failure(const std::vector<std::string>& listen_addresses) {
  // Every socket stays bound until the end, so that addresses that overlap each other clash
  // here as they do in civetweb.
  std::vector<int> bound;
  struct CloseAll {
    std::vector<int>& fds;
    ~CloseAll() {
      for (int fd : fds) close(fd);
    }
  } close_all{bound};
  for (const auto& listen_address : listen_addresses) {
    auto civet = to_civetweb_listening_port(listen_address);
    if (!civet) return BindFailure{listen_address, "invalid address"};
    // "+PORT": one IPv6 socket that takes IPv4 too; "[host]:PORT": IPv6 only, as civetweb does.
    const bool dual_stack = (*civet)[0] == '+';
    const bool v6 = dual_stack || (*civet)[0] == '[';
    const auto colon = civet->rfind(':');
    const std::string host = dual_stack ? "" : civet->substr(0, colon);
    const auto port = htons(
        static_cast<uint16_t>(std::stoi(dual_stack ? civet->substr(1) : civet->substr(colon + 1))));
    const int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return BindFailure{listen_address, std::strerror(errno)};
    bound.push_back(fd);
    // As civetweb does, so that connections in TIME_WAIT do not count as a clash.
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    int result = -1;
    if (v6) {
      int v6_only = dual_stack ? 0 : 1;
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6_only, sizeof v6_only);
      sockaddr_in6 address{};
      address.sin6_family = AF_INET6;
      address.sin6_port = port;
      address.sin6_addr = in6addr_any;
      if (!dual_stack) {
        inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &address.sin6_addr);
      }
      result = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    } else {
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = port;
      inet_pton(AF_INET, host.c_str(), &address.sin_addr);
      result = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    }
    // listen() too: SO_REUSEADDR lets two sockets bind one port until one of them listens.
    if (result == 0) result = listen(fd, 1);
    if (result != 0) return BindFailure{listen_address, std::strerror(errno)};
  }
  return std::nullopt;
}

bool accepts_gzip(std::string_view accept_encoding) {
  auto trim = [](std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
  };
  auto equals_ignoring_case = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) ==
                    std::tolower(static_cast<unsigned char>(y));
           });
  };
  // RFC 9110: codings are case-insensitive, q=0 refuses one, and an explicit coding
  // overrides the "*" wildcard whatever their order.
  std::optional<bool> gzip, wildcard;
  while (!accept_encoding.empty()) {
    auto comma = accept_encoding.find(',');
    auto item = accept_encoding.substr(0, comma);
    accept_encoding =
        comma == std::string_view::npos ? std::string_view{} : accept_encoding.substr(comma + 1);
    auto semicolon = item.find(';');
    auto coding = trim(item.substr(0, semicolon));
    bool accepted = true;
    while (semicolon != std::string_view::npos) {
      item = item.substr(semicolon + 1);
      semicolon = item.find(';');
      auto param = trim(item.substr(0, semicolon));
      if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
        accepted = param.substr(2).find_first_not_of("0.") != std::string_view::npos;
      }
    }
    if (equals_ignoring_case(coding, "gzip")) gzip = accepted;
    if (coding == "*") wildcard = accepted;
  }
  return gzip.value_or(wildcard.value_or(false));
}

WebServer::WebServer(const WebOptions& options, std::shared_ptr<HeartbeatCollector> collector)
    : options_(options),
      collector_(std::move(collector)),
      auth_(std::make_shared<BasicAuth>(options.basic_auth_users)) {
  if (options.listen_addresses.empty()) {
    throw std::runtime_error("no --web.listen-address to listen on");
  }
  std::string ports;
  for (const auto& address : options.listen_addresses) {
    auto port = to_civetweb_listening_port(address);
    if (!port) {
      throw std::runtime_error("invalid --web.listen-address " + address +
                               ": want [host]:port with an IP address or localhost as host");
    }
    // "s": civetweb serves TLS on that port, through init_ssl below.
    ports += (ports.empty() ? "" : ",") + *port + (options.tls ? "s" : "");
  }

  CivetCallbacks callbacks{};
  callbacks.begin_request = &WebServer::begin_request;
  if (options.tls) callbacks.init_ssl = &WebServer::init_ssl;
  // civetweb reports its own errors through log_message; keep them off stderr and remember the
  // first one, to say why the start failed. A worker thread it could not start (a tasks limit
  // below --web.max-connections) it only logs, and its listening thread, started last, may then
  // be missing too: that fails the start below.
  callbacks.log_message = &WebServer::log_message;
  if (options.max_connections == 0) {
    throw std::runtime_error("--web.max-connections must be at least 1");
  }
  std::vector<std::string> civet_options = {
      "listening_ports",
      ports,
      // One worker per connection for its whole life: slow and idle clients use up workers,
      // not CPU, so there are many, with small stacks (deploy/cmake/Civetweb.cmake).
      "num_threads",
      std::to_string(options.max_connections),
      "request_timeout_ms",
      std::to_string(kRequestTimeoutMs),
      "enable_keep_alive",
      "yes",
      "keep_alive_timeout_ms",
      std::to_string(kKeepAliveTimeoutMs),
      "max_request_size",
      std::to_string(kMaxRequestHeaderBytes),
      // Connections beyond the workers wait in the kernel's accept queue rather than failing to
      // connect: as Go does, as long a queue as the kernel allows (it caps this at somaxconn).
      "listen_backlog",
      "4096",
  };
  try {
    server_ = std::make_unique<CivetServer>(civet_options, &callbacks, this);
  } catch (const std::exception&) {
    // civetweb's exception only says that the start failed; binds of our own say where and why.
    auto failure = bind_failure(options.listen_addresses);
    if (failure) {
      throw std::runtime_error("cannot listen on " + failure->address + ": " + failure->reason);
    }
    // One eventfd per worker (ALTERNATIVE_QUEUE) may exceed the open file limit.
    throw std::runtime_error("cannot start the web server on " + ports + " with " +
                             std::to_string(options.max_connections) + " workers: " +
                             (start_error_.empty() ? "civetweb could not bind it" : start_error_));
  }
  if (start_error_.find("worker thread") != std::string::npos) {
    server_.reset();
    throw std::runtime_error("cannot start " + std::to_string(options.max_connections) +
                             " web worker threads (civetweb: " + start_error_ +
                             "): lower --web.max-connections or raise the tasks limit (systemd "
                             "TasksMax=, the container's pids limit)");
  }
}

WebServer::~WebServer() = default;

std::string WebServer::listening_address() const {
  // civetweb opens one socket per listening_ports entry, in order.
  auto ports = server_->getListeningPorts();
  std::string out;
  for (std::size_t i = 0; i < ports.size() && i < options_.listen_addresses.size(); ++i) {
    const std::string& address = options_.listen_addresses[i];
    std::string host = address.substr(0, address.rfind(':'));
    if (host == "localhost") host = "127.0.0.1";
    if (!out.empty()) out += ",";
    out += host + ":" + std::to_string(ports[i]);
  }
  return out;
}

int WebServer::port() const {
  auto ports = server_->getListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

int WebServer::log_message(const mg_connection* conn, const char* message) {
  auto* server = static_cast<CivetServer*>(mg_get_user_data(mg_get_context(conn)));
  auto* self = static_cast<WebServer*>(const_cast<void*>(server->getUserContext()));
  // Only what mg_start says on the constructor's thread; workers log later, on their own.
  if (std::this_thread::get_id() == self->constructor_thread_ && self->start_error_.empty() &&
      message != nullptr) {
    self->start_error_ = message;
  }
  return 1;
}

int WebServer::begin_request(mg_connection* conn) {
  auto* server = static_cast<CivetServer*>(mg_get_user_data(mg_get_context(conn)));
  // The constructor passed `this`; CivetServer stores every user context as const void*.
  auto* self = static_cast<WebServer*>(const_cast<void*>(server->getUserContext()));
  return self->handle(conn);
}

int WebServer::init_ssl(void* ssl_ctx, void* user_data) {
  // civetweb passes the CivetServer, whose user context is this WebServer.
  auto* server = static_cast<CivetServer*>(user_data);
  auto* self = static_cast<WebServer*>(const_cast<void*>(server->getUserContext()));
  self->options_.tls->attach(static_cast<ssl_ctx_st*>(ssl_ctx));
  // 1: the certificate and every other setting come from the TlsContext, not from civetweb.
  return 1;
}

void WebServer::set_basic_auth_users(const std::map<std::string, std::string>& users) {
  auto auth = std::make_shared<BasicAuth>(users);
  std::lock_guard lock(auth_mutex_);
  auth_ = std::move(auth);
}

std::shared_ptr<BasicAuth> WebServer::auth() const {
  std::lock_guard lock(auth_mutex_);
  return auth_;
}

int WebServer::handle(mg_connection* conn) {
  const mg_request_info* request = mg_get_request_info(conn);
  std::string_view method = request->request_method != nullptr ? request->request_method : "";
  std::string_view path = request->local_uri != nullptr ? request->local_uri : "";
  bool head = method == "HEAD";
  switch (auth()->check(mg_get_header(conn, "Authorization"))) {
    case AuthDecision::kAllowed:
      break;
    case AuthDecision::kRefused:
      return send_text(conn, 401, "Unauthorized", "Unauthorized\n", head,
                       "WWW-Authenticate: Basic realm=\"heartbeat_exporter\"\r\n");
    case AuthDecision::kBusy:
      return send_text(conn, 503, "Service Unavailable",
                       "too many password checks at once; try again\n", head, "Retry-After: 1\r\n");
  }
  if (path == "/-/reload") return serve_reload(conn, method);
  bool known =
      path == options_.telemetry_path || path == "/" || path == "/-/healthy" || path == "/-/ready";
  if (!known) return send_text(conn, 404, "Not Found", "404 page not found\n", head);
  if (method != "GET" && !head) {
    return send_text(conn, 405, "Method Not Allowed", "method not allowed\n", false,
                     "Allow: GET, HEAD\r\n");
  }
  try {
    if (path == options_.telemetry_path) return serve_metrics(conn, head);
    if (path == "/") return serve_landing_page(conn, head);
    if (path == "/-/healthy") return send_text(conn, 200, "OK", "Healthy\n", head);
    return send_text(conn, 200, "OK", "Ready\n", head);
  } catch (const std::exception& e) {
    log::error("request failed", {{"path", std::string(path)}, {"err", e.what()}});
    return send_text(conn, 500, "Internal Server Error", "internal error\n", head);
  }
}

int WebServer::serve_metrics(mg_connection* conn, bool head) const {
  auto exposition = collector_->expose();
  // A scrape of a very large fleet allocates and frees hundreds of MiB in small blocks, and
  // glibc keeps freed memory in its arenas, so resident memory would stay at the peak of the
  // largest scrape. Giving it back costs page faults on the next scrape, which is only worth it
  // for large ones (figures: tests/bench/README.md).
  struct TrimIfLarge {
    std::shared_ptr<const Exposition>& exposition;
    ~TrimIfLarge() {
      const bool large = exposition->text().size() > kTrimAfterBytes;
      exposition.reset();
      if (large) ::malloc_trim(0);
    }
  } trim{exposition};
  const char* accept_encoding = mg_get_header(conn, "Accept-Encoding");
  if (accept_encoding != nullptr && accepts_gzip(accept_encoding)) {
    if (const auto& compressed = exposition->gzipped()) {
      return send(conn, 200, "OK", kMetricsContentType, *compressed, head,
                  "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n");
    }
  }
  // Piece by piece: the text is never joined into one more copy.
  const ExpositionText& text = exposition->text();
  ResponseWriter writer(conn);
  if (!writer.write(status_and_headers(200, "OK", kMetricsContentType, text.size(),
                                       "Vary: Accept-Encoding\r\n")) ||
      head) {
    return 200;
  }
  for (const auto& piece : text.pieces) {
    if (!writer.write(piece)) break;
  }
  return 200;
}

int WebServer::serve_reload(mg_connection* conn, std::string_view method) const {
  if (method != "POST" && method != "PUT") {
    return send_text(conn, 405, "Method Not Allowed", "Only POST or PUT requests allowed\n",
                     method == "HEAD", "Allow: POST, PUT\r\n");
  }
  if (!options_.reload) {
    return send_text(conn, 403, "Forbidden", "Lifecycle API is not enabled.\n", false);
  }
  if (auto error = options_.reload()) {
    return send_text(conn, 500, "Internal Server Error",
                     "failed to reload config: " + *error + "\n", false);
  }
  return send_text(conn, 200, "OK", "", false);
}

int WebServer::serve_landing_page(mg_connection* conn, bool head) {
  auto page = landing_page_.run([this] {
    return std::make_shared<const std::string>(
        render_landing_page(collector_->check(), options_.telemetry_path));
  });
  return send(conn, 200, "OK", "text/html; charset=utf-8", *page, head);
}

}  // namespace heartbeat_exporter
