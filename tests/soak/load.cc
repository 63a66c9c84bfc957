#include "soak/load.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "support/http_client.h"
#include "support/sample_line.h"

namespace heartbeat_exporter::testing {
namespace {

constexpr int kStateCount = 5;

}  // namespace

std::optional<std::string> Exposition::sample(const std::string& series) const {
  auto found = samples.find(series);
  if (found == samples.end()) return std::nullopt;
  return found->second;
}

std::string Exposition::state(const std::string& key) const {
  auto found = states.find(key);
  return found == states.end() ? "(missing)" : found->second;
}

ParseResult parse_exposition(std::string_view text) {
  Exposition exposition;
  std::map<std::string, int> state_series;
  auto fail = [](std::string why, std::string_view line) {
    return ParseResult{std::nullopt, why + " in line: " + std::string(line.substr(0, 200))};
  };
  if (text.empty() || text.back() != '\n') return fail("body does not end with a newline", "");
  while (!text.empty()) {
    auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end + 1);
    if (line.empty()) continue;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
    if (line.starts_with("#")) return fail("unknown comment", line);
    SampleLine sample;
    try {
      sample = parse_sample_line(line);
    } catch (const std::runtime_error& error) {
      return fail(error.what(), "");
    }
    if (!exposition.samples.emplace(std::string(sample.series), std::string(sample.value)).second) {
      return fail("series twice", line);
    }
    if (sample.name != "heartbeat_state") continue;
    const std::string* process = label_value(sample, "process");
    const std::string* state = label_value(sample, "state");
    if (process == nullptr || state == nullptr) {
      return fail("heartbeat_state without process or state", line);
    }
    ++state_series[*process];
    if (sample.value == "1") {
      if (!exposition.states.emplace(*process, *state).second) {
        return fail("a second state at 1", line);
      }
    } else if (sample.value != "0") {
      return fail("heartbeat_state neither 0 nor 1", line);
    }
  }
  for (const auto& [process, count] : state_series) {
    if (count != kStateCount || !exposition.states.contains(process)) {
      return fail("process " + process + " has " + std::to_string(count) +
                      " state series and no state at 1",
                  "");
    }
  }
  return ParseResult{std::move(exposition), ""};
}

Scrape scrape(int port, bool gzip, const std::string& path,
              std::map<std::string, std::string> headers) {
  Scrape result;
  auto started = std::chrono::steady_clock::now();
  try {
    if (gzip) headers["Accept-Encoding"] = "gzip";
    HttpResponse response = http_get(port, path, headers);
    result.latency = std::chrono::steady_clock::now() - started;
    if (response.status != 200) {
      result.error = "status " + std::to_string(response.status) + ": " + response.body;
      return result;
    }
    bool zipped = response.headers.count("content-encoding") != 0;
    if (zipped != gzip) {
      result.error = gzip ? "gzip asked for, not served" : "gzip served unasked";
      return result;
    }
    ParseResult parsed = parse_exposition(zipped ? gunzip(response.body) : response.body);
    if (!parsed.exposition) {
      result.error = parsed.error;
      return result;
    }
    result.exposition = std::move(parsed.exposition);
  } catch (const std::exception& e) {
    result.latency = std::chrono::steady_clock::now() - started;
    result.error = e.what();
  }
  return result;
}

namespace {

// A "Name:   123 kB" line of /proc/<pid>/status, in KiB; -1 when it cannot be read.
long status_kib(pid_t pid, std::string_view name) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with(name) && line.size() > name.size() && line[name.size()] == ':') {
      return std::stol(line.substr(name.size() + 1));
    }
  }
  return -1;
}

}  // namespace

long resident_kib(pid_t pid) { return status_kib(pid, "VmRSS"); }

long peak_resident_kib(pid_t pid) { return status_kib(pid, "VmHWM"); }

double cpu_seconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // The command name in field 2 may hold spaces, so fields are counted after its closing ')'.
  auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  long ticks = 0;
  for (int number = 3; number <= 15 && fields >> field; ++number) {
    if (number == 14 || number == 15) ticks += std::stol(field);
  }
  return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size())));
  return values[std::clamp<std::size_t>(rank, 1, values.size()) - 1];
}

void Failures::add(std::string message) {
  std::lock_guard lock(mutex_);
  ++count_;
  if (kept_.size() < kKept) kept_.push_back(std::move(message));
}

std::size_t Failures::count() const {
  std::lock_guard lock(mutex_);
  return count_;
}

std::string Failures::summary() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& message : kept_) out += message + "\n";
  return out;
}

WrappedExporter::WrappedExporter(const std::vector<std::string>& wrapper,
                                 const std::filesystem::path& config,
                                 const std::filesystem::path& log_dir,
                                 const std::vector<std::string>& flags,
                                 std::chrono::milliseconds startup_timeout) {
  std::vector<std::string> argv = wrapper;
  argv.insert(argv.end(), {HEARTBEAT_EXPORTER_BINARY, "--config.file=" + config.string(),
                           "--web.listen-address=127.0.0.1:0"});
  argv.insert(argv.end(), flags.begin(), flags.end());
  process_ = std::make_unique<Subprocess>(argv, log_dir);
  auto line = process_->wait_for_log("starting heartbeat_exporter", startup_timeout);
  auto at = line ? line->find("127.0.0.1:") : std::string::npos;
  if (at == std::string::npos) {
    throw std::runtime_error("exporter did not start; stderr:\n" + process_->stderr_text());
  }
  port_ = std::stoi(line->substr(at + std::strlen("127.0.0.1:")));
}

std::size_t count_of(std::string_view text, std::string_view needle) {
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

}  // namespace heartbeat_exporter::testing
