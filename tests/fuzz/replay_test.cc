// Replays the fuzzers' seed corpus and every regression input through the fuzzers' invariant
// checks, so that the normal unit suite (no clang, no sanitizers) keeps each finding fixed.

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/invariants.h"

namespace heartbeat_exporter::fuzz {
namespace {

namespace fs = std::filesystem;

const fs::path kFuzzDir = fs::path(HEARTBEAT_SOURCE_DIR) / "tests" / "fuzz";

// The files of corpus/<target> and regressions/<target>, in name order; a folder may be absent
// (git keeps no empty folders).
std::vector<fs::path> inputs_of(const std::string& target) {
  std::vector<fs::path> files;
  for (const char* folder : {"corpus", "regressions"}) {
    const fs::path dir = kFuzzDir / folder / target;
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string content_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

template <typename Check>
void replay(const std::string& target, Check check) {
  const std::vector<fs::path> files = inputs_of(target);
  // The seed corpus alone has more than this; fewer means the folders were not found.
  REQUIRE(files.size() >= 10);
  for (const fs::path& file : files) {
    INFO(file.string());
    CHECK(check(content_of(file)) == Violations{});
  }
}

TEST_CASE("every fuzz heartbeat input reads and is judged as the README's state table says") {
  replay("heartbeat", check_heartbeat);
}

TEST_CASE("every fuzz timestamp input that parses formats and re-parses to the same instant") {
  replay("timestamp", check_timestamp);
}

TEST_CASE("every fuzz config input gives a one-line error or a config that keeps its promises") {
  replay("config", check_config);
}

TEST_CASE("the heartbeat invariants catch a verdict that contradicts the state table") {
  const std::string json =
      R"({"pid": 12346, "timestamp": "2026-02-05T06:17:29.601049+00:00", "status": "running"})";
  const ReadResult read = parse_heartbeat(json);
  REQUIRE(read.ok());
  const ProcessConfig process = process_variants().front();
  CheckResult verdict = decide_health(process, read, kFixedNow, FuzzProcessTable());
  REQUIRE(verdict.state == HealthState::kHealthy);

  Violations violations;
  check_verdict(process, read, verdict, violations);
  CHECK(violations == Violations{});

  verdict.state = HealthState::kTimedOut;
  check_verdict(process, read, verdict, violations);
  CHECK(violations ==
        Violations{
            "process timeout 60.000000 check_pid true: TIMED_OUT (): expected HEALTHY",
            "process timeout 60.000000 check_pid true: TIMED_OUT (): reason does not "
            "fit",
            "process timeout 60.000000 check_pid true: TIMED_OUT (): detail \"\" "
            "(empty iff healthy with no pid check skipped)",
        });
}

TEST_CASE(
    "the invariants' UTF-8 check refuses surrogates, overlong forms, too-large code points and cut "
    "sequences") {
  CHECK(is_valid_utf8("caf\xc3\xa9 \xf0\x9f\x98\x80"));
  CHECK_FALSE(is_valid_utf8("\xed\xb0\x80"));      // a surrogate, as "\udc00" decodes
  CHECK_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong "/"
  CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(is_valid_utf8("\xe2\x82"));          // cut short
}

}  // namespace
}  // namespace heartbeat_exporter::fuzz
