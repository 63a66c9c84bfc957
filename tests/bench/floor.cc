// heartbeat_floor: the least a scrape can cost, measured on the same files as the scrape.
//
// One thread lists a heartbeat folder, then for every *.json file in it opens, fstats, reads,
// closes and parses it with parse_heartbeat() and calls kill(pid, 0), exactly the per-file work
// that no exporter can skip. One warm-up pass, then --passes timed passes; prints one line:
//
//   floor files=10000 passes=30 errors=0 median_ms=41.2 p99_ms=44.0 min_ms=40.1
//
// errors counts files that could not be read or parsed, and pids that kill() says are gone;
// scrape_bench.py refuses a floor with errors, since skipped files would make it look cheaper.
//
// Usage: heartbeat_floor [--passes R] DIR
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "heartbeat_exporter/reader.h"

namespace heartbeat_exporter {
namespace {

constexpr int kDefaultPasses = 30;

struct Options {
  std::string dir;
  int passes = kDefaultPasses;
};

struct PassResult {
  std::size_t files = 0;
  std::size_t errors = 0;
  double ms = 0;
};

// Owns a file descriptor and closes it.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

bool is_heartbeat_name(std::string_view name) {
  // The same rule as discovery: writers' temp files start with ".".
  return name.size() > 5 && name.front() != '.' && name.ends_with(".json");
}

// Lists the folder inside every timed pass, because any exporter must list it on every scrape to
// see new files; nothing the scrape could skip (sorting, /proc reads) is added to flatter it.
bool list_heartbeats(int dir_fd, std::vector<std::string>& names) {
  names.clear();
  int listing_fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (listing_fd < 0) return false;
  DIR* dir = ::fdopendir(listing_fd);
  if (dir == nullptr) {
    ::close(listing_fd);
    return false;
  }
  while (const dirent* entry = ::readdir(dir)) {
    if (is_heartbeat_name(entry->d_name)) names.emplace_back(entry->d_name);
  }
  ::closedir(dir);
  return true;
}

// One file's unavoidable work; false when it could not be read or parsed or its pid is gone.
bool check_one(int dir_fd, const std::string& name, std::string& buffer) {
  Fd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) return false;
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) return false;
  if (static_cast<std::size_t>(info.st_size) > kMaxHeartbeatBytes) return false;
  // One byte past the bound tells a file that grew after fstat from one that fits exactly.
  buffer.resize(kMaxHeartbeatBytes + 1);
  std::size_t length = 0;
  while (length < buffer.size()) {
    ssize_t got = ::read(fd.get(), buffer.data() + length, buffer.size() - length);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return false;
    if (got == 0) break;
    length += static_cast<std::size_t>(got);
  }
  if (length > kMaxHeartbeatBytes) return false;
  ReadResult read = parse_heartbeat(std::string_view(buffer.data(), length));
  if (!read.ok()) return false;
  auto pid = static_cast<pid_t>(read.heartbeat->pid);
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

PassResult run_pass(int dir_fd, std::vector<std::string>& names, std::string& buffer) {
  auto start = std::chrono::steady_clock::now();
  PassResult result;
  if (!list_heartbeats(dir_fd, names)) {
    result.errors = 1;
    return result;
  }
  for (const auto& name : names) {
    if (!check_one(dir_fd, name, buffer)) ++result.errors;
  }
  result.files = names.size();
  result.ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return result;
}

// Nearest rank: the smallest sample that at least `fraction` of the samples are not above.
double percentile(std::vector<double> samples, double fraction) {
  std::sort(samples.begin(), samples.end());
  auto rank = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(samples.size())));
  return samples[std::clamp<std::size_t>(rank, 1, samples.size()) - 1];
}

double median(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  std::size_t middle = samples.size() / 2;
  if (samples.size() % 2 == 1) return samples[middle];
  return (samples[middle - 1] + samples[middle]) / 2;
}

bool parse_options(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    if (arg.starts_with("--passes=")) {
      value = arg.substr(std::strlen("--passes="));
    } else if (arg == "--passes" && i + 1 < argc) {
      value = argv[++i];
    } else if (!arg.starts_with("-") && options.dir.empty()) {
      options.dir = arg;
      continue;
    } else {
      std::fprintf(stderr, "heartbeat_floor: unexpected argument \"%s\"\n", argv[i]);
      return false;
    }
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), options.passes);
    if (ec != std::errc() || end != value.data() + value.size() || options.passes < 1) {
      std::fprintf(stderr, "heartbeat_floor: --passes must be a positive integer, got \"%.*s\"\n",
                   static_cast<int>(value.size()), value.data());
      return false;
    }
  }
  if (options.dir.empty()) {
    std::fprintf(stderr, "heartbeat_floor: missing the heartbeat folder\n");
    return false;
  }
  return true;
}

int run(int argc, char** argv) {
  Options options;
  if (!parse_options(argc, argv, options)) {
    std::fprintf(stderr, "usage: heartbeat_floor [--passes R] DIR\n");
    return 2;
  }
  Fd dir_fd(::open(options.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0) {
    std::fprintf(stderr, "heartbeat_floor: opening heartbeat folder \"%s\": %s\n",
                 options.dir.c_str(), std::strerror(errno));
    return 1;
  }

  std::vector<std::string> names;
  std::string buffer;
  // The warm-up pass fills the page cache and the dentry cache, as earlier scrapes would have.
  PassResult warm_up = run_pass(dir_fd.get(), names, buffer);
  std::vector<double> samples;
  std::size_t errors = warm_up.errors;
  for (int pass = 0; pass < options.passes; ++pass) {
    PassResult result = run_pass(dir_fd.get(), names, buffer);
    samples.push_back(result.ms);
    errors += result.errors;
  }
  std::printf("floor files=%zu passes=%d errors=%zu median_ms=%.3f p99_ms=%.3f min_ms=%.3f\n",
              names.size(), options.passes, errors, median(samples), percentile(samples, 0.99),
              *std::min_element(samples.begin(), samples.end()));
  return errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace heartbeat_exporter

int main(int argc, char** argv) { return heartbeat_exporter::run(argc, argv); }
