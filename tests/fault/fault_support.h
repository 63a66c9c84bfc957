#pragma once

// Helpers of the tests that run the built binaries as root and as the user nobody (fault tests,
// and the hostile-folder memory tests): CI runs them as root, and setpriv (util-linux) changes
// user.

#include <grp.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "soak/load.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace heartbeat_exporter::testing {

inline constexpr uid_t kNobody = 65534;

// The prefix that runs a command as nobody, with no supplementary groups.
inline const std::vector<std::string> kAsNobody = {"setpriv", "--reuid=65534", "--regid=65534",
                                                   "--clear-groups"};

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

inline std::set<std::string> file_names(const std::filesystem::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.insert(entry.path().filename());
  }
  return names;
}

inline std::set<std::string> processes_of(const Exposition& exposition) {
  std::set<std::string> keys;
  for (const auto& [key, state] : exposition.states) keys.insert(key);
  return keys;
}

// A scrape that must succeed; the test stops here when it does not.
inline Exposition scrape_ok(int port, bool gzip = false) {
  Scrape result = scrape(port, gzip);
  INFO(result.error);
  REQUIRE(result.exposition);
  return *result.exposition;
}

// Lines of `log` that contain every one of `needles`.
inline std::vector<std::string> log_lines(const std::string& log,
                                          std::initializer_list<std::string> needles) {
  std::vector<std::string> found;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    bool all = true;
    for (const auto& needle : needles) all = all && line.find(needle) != std::string::npos;
    if (all) found.push_back(line);
  }
  return found;
}

// True when a user other than the owner can reach `dir`: every folder above it lets others in.
inline bool reachable_by_others(const std::filesystem::path& dir) {
  for (std::filesystem::path at = dir.parent_path(); !at.empty() && at != at.root_path();
       at = at.parent_path()) {
    if ((std::filesystem::status(at).permissions() & std::filesystem::perms::others_exec) ==
        std::filesystem::perms::none) {
      return false;
    }
  }
  return true;
}

// Stops the test unless it runs as root and nobody can reach `dir` (which it opens to others).
inline void require_root_and_reachable(const std::filesystem::path& dir) {
  // A skipped test must not count as passed: CI runs as root, elsewhere this fails loudly.
  if (::geteuid() != 0) FAIL("needs root: commands run as another user with setpriv");
  if (!reachable_by_others(dir)) {
    FAIL("nobody cannot reach " << dir << "; set TMPDIR to a folder under /tmp");
  }
  // mkdtemp makes the folder 0700.
  std::filesystem::permissions(dir, std::filesystem::perms(0755));
}

// A heartbeat folder anyone may write to, like a shared /var/lib/heartbeats (sticky, as /tmp).
inline std::filesystem::path shared_folder(const TempDir& dir, const std::string& name) {
  const auto folder = dir / name;
  std::filesystem::create_directories(folder);
  std::filesystem::permissions(folder, std::filesystem::perms(01777));
  return folder;
}

// Runs `argv` as nobody, with stdin from `input`; the test stops when it fails.
inline RunResult as_nobody(std::vector<std::string> argv, const std::string& input = {}) {
  argv.insert(argv.begin(), kAsNobody.begin(), kAsNobody.end());
  RunResult result = run(argv, input);
  INFO("as nobody: " << argv.back() << "\n" << result.err);
  REQUIRE(result.exit_code == 0);
  return result;
}

// Runs `body` in a forked child that has become nobody, as setpriv would (no supplementary
// groups, then gid and uid), for what is too slow to do one command at a time: creating many
// files. `body` returns the child's exit status; the test stops unless it is 0.
template <typename Body>
void as_nobody_in_child(Body body) {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
        ::setresuid(kNobody, kNobody, kNobody) != 0) {
      ::_exit(126);
    }
    ::_exit(body());
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

}  // namespace heartbeat_exporter::testing
