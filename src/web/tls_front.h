#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "web/web_config.h"

namespace heartbeat_exporter {

// Serves TLS for the exporter through stunnel, from Debian's stunnel4 package. civetweb 1.15 as
// Debian 12 ships it looks up OpenSSL 1.1 symbols at run time and crashes on the first TLS
// handshake with OpenSSL 3, so the exporter keeps civetweb on plain HTTP on a loopback port and
// lets stunnel terminate TLS on the listen address.
class TlsFront {
 public:
  // Starts stunnel accepting TLS on listen_address ([host]:port as for --web.listen-address)
  // and forwarding to 127.0.0.1:backend_port, and waits until it accepts connections.
  // Throws std::runtime_error with a one-line reason when it cannot.
  TlsFront(const std::string& listen_address, int backend_port, const TlsServerConfig& tls,
           const std::string& stunnel = "stunnel");
  ~TlsFront();
  TlsFront(const TlsFront&) = delete;
  TlsFront& operator=(const TlsFront&) = delete;

  pid_t pid() const { return pid_; }
  // True once stunnel has exited (reaped here); the exporter cannot serve TLS without it.
  bool exited();

 private:
  void stop();

  pid_t pid_ = -1;
  bool reaped_ = false;
};

// stunnel's `accept` syntax for a --web.listen-address; nullopt when it is not one we take.
std::optional<std::string> to_stunnel_accept(const std::string& listen_address);

}  // namespace heartbeat_exporter
