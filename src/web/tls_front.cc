#include "web/tls_front.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "web/web_server.h"

namespace heartbeat_exporter {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(10);

// True when a socket listens on the port, by /proc/net/tcp{,6}: probing with connect() would
// make stunnel log a failed handshake at every start.
bool is_listening(int port) {
  char wanted[16];
  std::snprintf(wanted, sizeof wanted, ":%04X", static_cast<unsigned>(port));
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state;
      fields >> slot >> local >> remote >> state;
      constexpr const char* kListen = "0A";
      if (state == kListen && local.size() > 5 && local.compare(local.size() - 5, 5, wanted) == 0) {
        return true;
      }
    }
  }
  return false;
}

// The executable a program name stands for, searched in PATH as execvp would, but before
// fork(), where searching is not safe.
std::optional<std::string> find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    return access(name.c_str(), X_OK) == 0 ? std::optional(name) : std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!dirs.empty()) {
    auto colon = dirs.find(':');
    std::string candidate = std::string(dirs.substr(0, colon)) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> to_stunnel_accept(const std::string& listen_address) {
  auto civet = to_civetweb_listening_port(listen_address);
  if (!civet) return std::nullopt;
  // civetweb's "+PORT" is every address; stunnel's ":::PORT" is a dual-stack IPv6 socket.
  if ((*civet)[0] == '+') return ":::" + civet->substr(1);
  if ((*civet)[0] == '[') {
    auto close = civet->find(']');
    return civet->substr(1, close - 1) + civet->substr(close + 1);
  }
  return *civet;
}

TlsFront::TlsFront(const std::string& listen_address, int backend_port, const TlsServerConfig& tls,
                   const std::string& stunnel) {
  auto accept = to_stunnel_accept(listen_address);
  if (!accept) throw std::runtime_error("invalid --web.listen-address " + listen_address);
  int port = std::stoi(
      accept->substr(accept->rfind(':') == std::string::npos ? 0 : accept->rfind(':') + 1));
  if (port == 0) {
    throw std::runtime_error("TLS needs a fixed port in --web.listen-address, not port 0");
  }
  // Bound by someone else, the port would look ready below; and stunnel's own failure report
  // is a screenful of debug output.
  if (auto failure = bind_failure({listen_address})) {
    throw std::runtime_error("cannot listen on " + listen_address + ": " + failure->reason);
  }
  // -fd 0: stunnel reads this configuration from its standard input, so no file is written.
  std::string config =
      "foreground = yes\n"
      "pid =\n"
      "syslog = no\n"
      "debug = warning\n"
      "[heartbeat_exporter]\n";
  config += "accept = " + *accept + "\n";
  config += "connect = 127.0.0.1:" + std::to_string(backend_port) + "\n";
  config += "cert = " + tls.cert_file.string() + "\n";
  config += "key = " + tls.key_file.string() + "\n";
  // stunnel complains at error level when it trusts no certificates, although it verifies no
  // clients (verifyPeer stays off); naming our own certificate quiets that.
  config += "CAfile = " + tls.cert_file.string() + "\n";

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("cannot start stunnel: pipe: ") + std::strerror(errno));
  }
  auto path = find_program(stunnel);
  if (!path) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    throw std::runtime_error("cannot start " + stunnel +
                             " for TLS: not found (install Debian's stunnel4 package)");
  }
  // stunnel's own log lines go to our stderr, where the exporter's logs are.
  std::vector<std::string> args = {*path, "-fd", "0"};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    // Only async-signal-safe calls between fork and exec: the parent has other threads.
    // Die with the exporter, even a SIGKILLed one, so that no stunnel keeps the port.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    // The exporter blocks these for sigwait() and ignores SIGPIPE; stunnel must not inherit that.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    dup2(pipe_fds[0], 0);
    execv(argv[0], argv.data());
    _exit(127);
  }
  const int fork_error = errno;
  close(pipe_fds[0]);
  if (pid_ < 0) {
    close(pipe_fds[1]);
    throw std::runtime_error("cannot start " + stunnel +
                             " for TLS: fork: " + std::strerror(fork_error));
  }
  std::size_t written = 0;
  while (written < config.size()) {
    ssize_t n = write(pipe_fds[1], config.data() + written, config.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<std::size_t>(n);
  }
  close(pipe_fds[1]);

  auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (!is_listening(port)) {
    if (exited()) {
      stop();
      throw std::runtime_error("stunnel exited while starting TLS on " + listen_address +
                               "; see its log lines above");
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop();
      throw std::runtime_error("stunnel did not accept connections on " + listen_address +
                               " within 10 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool TlsFront::exited() {
  if (reaped_) return true;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) reaped_ = true;
  return reaped_;
}

TlsFront::~TlsFront() { stop(); }

void TlsFront::stop() {
  if (pid_ <= 0 || exited()) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 100 && !exited(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!exited()) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

}  // namespace heartbeat_exporter
