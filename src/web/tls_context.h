// Native TLS for the web server: the OpenSSL settings of tls_server_config, applied to every new
// connection, and swapped without a restart when the web config is reloaded or the certificate
// or key file changes.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "util/bounded_file.h"
#include "web/web_config.h"

struct ssl_ctx_st;
struct ssl_st;

namespace heartbeat_exporter {

namespace detail {
struct TlsSnapshot;
}

// civetweb creates one SSL_CTX for all its TLS ports; attach() gives it a ClientHello callback
// that moves each new connection to the SSL_CTX built from the current settings (SSL_set_SSL_CTX)
// and copies onto the connection what that call does not (protocol versions, options, suites,
// groups, client certificate checks). A connection keeps the settings it started with.
//
// Errors are one line naming the field: "tls_server_config.key_file: does not match cert_file".
class TlsContext {
 public:
  struct Result {
    std::unique_ptr<TlsContext> context;  // exactly one of context and error is set
    std::string error;
  };
  // Reads the certificate, key and client CA files and builds the settings. The files are
  // looked at again, for new connections, at most once per file_check_interval.
  static Result create(const TlsServerConfig& config,
                       std::chrono::milliseconds file_check_interval = std::chrono::seconds(1));
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Takes a new tls_server_config (a web config reload); returns the error that kept the old
  // one, or nullopt.
  std::optional<std::string> update(const TlsServerConfig& config);

  // For civetweb's init_ssl callback: makes new connections on `server_ctx` take these
  // settings. This object must outlive every connection on `server_ctx` (the web server that
  // owns it is destroyed first). Call once.
  void attach(ssl_ctx_st* server_ctx);

  // The serial number of the certificate new connections get, in hex (for tests and logs).
  std::string certificate_serial() const;

 private:
  TlsContext(std::shared_ptr<const detail::TlsSnapshot> snapshot,
             std::chrono::milliseconds file_check_interval);
  static int on_client_hello(ssl_st* ssl, int* alert, void* arg);
  std::shared_ptr<const detail::TlsSnapshot> current() const;
  // Rebuilds from changed certificate, key or CA files, at most once per interval.
  void reload_changed_files();

  const std::chrono::milliseconds file_check_interval_;
  ssl_ctx_st* server_ctx_ = nullptr;
  std::atomic<std::int64_t> next_file_check_ns_{0};
  mutable std::mutex snapshot_mutex_;  // guards snapshot_
  std::shared_ptr<const detail::TlsSnapshot> snapshot_;
  std::mutex files_mutex_;  // one file check at a time; guards failed_stamps_
  // The file stamps whose build failed and was logged, so that a bad pair is logged once.
  std::optional<std::vector<detail::FileStamp>> failed_stamps_;
};

}  // namespace heartbeat_exporter
