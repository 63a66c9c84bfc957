#pragma once

// Clients that misbehave on purpose, over real loopback sockets: they send headers too slowly,
// pipeline requests and never read, or keep guessing passwords. Used by the request-limit tests
// (fault_test) and the attack figures (availability_test).

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace heartbeat_exporter::testing {

// A blocking TCP socket connected to 127.0.0.1:port, with a receive buffer of `receive_buffer`
// bytes when not 0 (a client that reads nothing wants the server to stall early). -1 when the
// connection failed.
int connect_loopback(int port, int receive_buffer = 0);

// Writes all of `data`; false when the connection failed.
bool send_all(int fd, const std::string& data);

// What the server did with a connection the client stopped talking on.
struct Closing {
  bool closed = false;  // EOF or a reset before the timeout
  std::chrono::duration<double> after{};
  std::string received;  // what came before the close
};

// Reads until the server closes the connection or `timeout` passes, sending `drip` (when not
// empty) every `drip_every` meanwhile, as a slowloris client does.
Closing wait_for_close(int fd, std::chrono::milliseconds timeout, const std::string& drip = {},
                       std::chrono::milliseconds drip_every = std::chrono::milliseconds(200));

// Raises this process's open file limit to its hard limit, as the exporter does.
void raise_open_file_limit();

enum class Misbehaviour {
  // Sends a request line and then one header line a second, never the blank line that ends
  // the headers.
  kSlowloris,
  // Sends GET /metrics again and again on one connection and never reads a byte.
  kPipelineNeverRead,
  // Sends GET /metrics with a wrong basic-auth password and reads the answer, as fast as it can.
  kWrongPassword,
};

// `connections` misbehaving clients against 127.0.0.1:port until destroyed. Each connection the
// server closes is opened again at once, so that as many are open as the server lets be.
class Attack {
 public:
  Attack(int port, Misbehaviour misbehaviour, std::size_t connections);
  ~Attack();
  Attack(const Attack&) = delete;
  Attack& operator=(const Attack&) = delete;

  // Connections open at the moment.
  std::size_t open() const { return open_.load(); }
  // Connections the server has closed so far.
  std::size_t closed_by_server() const { return closed_by_server_.load(); }
  // Requests sent (pipelined or answered) so far.
  std::size_t requests() const { return requests_.load(); }
  // Answers per status, for the password guessers.
  std::map<int, std::size_t> statuses() const;

  // Closes every connection and stops.
  void stop();

 private:
  void run_sockets();
  void run_guesser();

  int port_;
  Misbehaviour misbehaviour_;
  std::size_t connections_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> open_{0};
  std::atomic<std::size_t> closed_by_server_{0};
  std::atomic<std::size_t> requests_{0};
  std::atomic<std::size_t> answered_401_{0};
  std::atomic<std::size_t> answered_503_{0};
  std::atomic<std::size_t> answered_other_{0};
  std::vector<std::thread> threads_;
};

}  // namespace heartbeat_exporter::testing
