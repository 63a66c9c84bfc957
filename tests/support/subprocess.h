#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace heartbeat_exporter::testing {

struct RunResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
};

// Runs a program to completion with stdin from `input`; stdout and stderr captured. Throws on
// spawn failure. Kills the program after `timeout` so that a hang fails the test, not the suite.
RunResult run(const std::vector<std::string>& argv, const std::string& input = {},
              std::chrono::seconds timeout = std::chrono::seconds(60));

// A long-running child (the exporter) with stdout/stderr going to files, killed on destruction.
class Subprocess {
 public:
  Subprocess(const std::vector<std::string>& argv, const std::filesystem::path& log_dir);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  std::string stderr_text() const;

  // Waits until stderr holds a line containing `needle`, or the process exits, or the timeout
  // passes. Returns that line.
  std::optional<std::string> wait_for_log(
      const std::string& needle,
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

  void signal(int signal_number) const;
  // Waits for exit; returns the exit code, -1 if killed by a signal, nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool running();

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::filesystem::path stderr_path_;
};

// Starts the built exporter on 127.0.0.1 with an ephemeral port (unless extra_flags give a
// --web.listen-address, which must then include 127.0.0.1) and waits until it listens.
// `launcher`, when given, runs it (e.g. setpriv or unshare and their flags).
class Exporter {
 public:
  Exporter(const std::filesystem::path& config_file, const std::filesystem::path& log_dir,
           std::vector<std::string> extra_flags = {}, std::vector<std::string> launcher = {});
  int port() const { return port_; }
  Subprocess& process() { return *process_; }

 private:
  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
};

}  // namespace heartbeat_exporter::testing
