// The fixtures in tests/conformance/, which the Python package's tests (tests/python/) read too:
// both implementations must give each the same verdict, so that they cannot drift apart.
#include <rapidjson/document.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

#include "heartbeat_exporter/reader.h"
#include "heartbeat_exporter/timestamp.h"
#include "heartbeat_exporter/writer.h"
#include "support/temp_dir.h"
#include "util/json.h"

namespace heartbeat_exporter {
namespace {

using detail::string_of;
using testing::TempDir;

const std::filesystem::path kFixtures =
    std::filesystem::path(HEARTBEAT_SOURCE_DIR) / "tests" / "conformance";

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

rapidjson::Document load_fixture(std::string_view name) {
  const std::string text = read_file(kFixtures / name);
  rapidjson::Document document;
  document.Parse(text.data(), text.size());
  INFO(name);
  REQUIRE_FALSE(document.HasParseError());
  return document;
}

std::string text_of(const rapidjson::Value& value) { return std::string(string_of(value)); }

// A case's "content": a string, or a list of strings and [string, count] repeats.
std::string content_of(const rapidjson::Value& content) {
  if (content.IsString()) return text_of(content);
  std::string text;
  for (const auto& part : content.GetArray()) {
    if (part.IsString()) {
      text += string_of(part);
      continue;
    }
    for (unsigned i = 0; i < part[1].GetUint(); ++i) text += string_of(part[0]);
  }
  return text;
}

// Makes the file a heartbeat case describes and returns its path.
std::filesystem::path make_case_file(const TempDir& dir, const rapidjson::Value& c) {
  const auto path = dir / "case.json";
  if (c.HasMember("special")) {
    const std::string_view special = string_of(c["special"]);
    if (special == "folder") std::filesystem::create_directory(path);
    if (special == "fifo") REQUIRE(::mkfifo(path.c_str(), 0644) == 0);
    return path;
  }
  std::string content = c.HasMember("file")
                            ? read_file(kFixtures / "heartbeats" / text_of(c["file"]))
                            : content_of(c["content"]);
  if (c.HasMember("pad_to")) content.resize(c["pad_to"].GetUint(), ' ');
  return dir.write("case.json", content);
}

std::string with_path(std::string message, const std::filesystem::path& path) {
  const std::string placeholder = "{path}";
  const auto at = message.find(placeholder);
  if (at != std::string::npos) message.replace(at, placeholder.size(), path.string());
  return message;
}

// A run's field of a fixture heartbeat: absent or null when the heartbeat has none.
const rapidjson::Value* run_field(const rapidjson::Value& heartbeat, const char* name) {
  const auto found = heartbeat.FindMember(name);
  if (found == heartbeat.MemberEnd() || found->value.IsNull()) return nullptr;
  return &found->value;
}

std::optional<Timestamp> timestamp_field(const rapidjson::Value& heartbeat, const char* name) {
  const rapidjson::Value* value = run_field(heartbeat, name);
  if (value == nullptr) return std::nullopt;
  const auto parsed = parse_timestamp(string_of(*value));
  REQUIRE(parsed.has_value());
  return parsed;
}

// The run's fields of a fixture heartbeat: duration_micros stands for duration_seconds.
void set_run_fields(HeartbeatData& data, const rapidjson::Value& heartbeat) {
  if (const auto* code = run_field(heartbeat, "exit_code")) data.exit_code = code->GetInt();
  data.started_at = timestamp_field(heartbeat, "started_at");
  if (const auto* micros = run_field(heartbeat, "duration_micros")) {
    data.duration = std::chrono::microseconds(micros->GetInt64());
  }
  data.last_success = timestamp_field(heartbeat, "last_success");
}

void check_run_fields(const HeartbeatData& data, const rapidjson::Value& expected) {
  HeartbeatData wanted;
  set_run_fields(wanted, expected);
  CHECK(data.exit_code == wanted.exit_code);
  CHECK(data.started_at == wanted.started_at);
  CHECK(data.duration == wanted.duration);
  CHECK(data.last_success == wanted.last_success);
}

// A field that fixtures written before it existed leave out: absent or null is nullopt.
std::optional<std::uint64_t> optional_count(const rapidjson::Value& heartbeat, const char* name) {
  if (!heartbeat.HasMember(name) || heartbeat[name].IsNull()) return std::nullopt;
  return heartbeat[name].GetUint64();
}

void check_heartbeat(const HeartbeatData& data, const rapidjson::Value& expected) {
  if (expected["process_key"].IsNull()) {
    CHECK_FALSE(data.process_key.has_value());
  } else {
    CHECK(data.process_key == text_of(expected["process_key"]));
  }
  CHECK(data.pid == expected["pid"].GetInt64());
  CHECK(format_timestamp(data.timestamp) == text_of(expected["timestamp"]));
  CHECK(data.status == text_of(expected["status"]));
  if (expected["iteration"].IsNull()) {
    CHECK_FALSE(data.iteration.has_value());
  } else {
    CHECK(data.iteration == expected["iteration"].GetUint64());
  }
  CHECK(data.pid_namespace == optional_count(expected, "pid_namespace"));
  CHECK(data.start_ticks == optional_count(expected, "start_ticks"));
  check_run_fields(data, expected);
}

TEST_CASE("conformance: each heartbeat file gets the fixture's verdict, message and data") {
  const auto fixture = load_fixture("heartbeats.json");
  for (const auto& c : fixture["cases"].GetArray()) {
    INFO("case: " << text_of(c["name"]));
    TempDir dir;
    const auto path = make_case_file(dir, c);
    const ReadResult result = read_heartbeat(path);
    const std::string reason = text_of(c["reason"]);
    if (reason == "ok") {
      INFO("failure: " << (result.failure ? result.failure->message : ""));
      CHECK(result.ok());
      if (result.ok()) check_heartbeat(*result.heartbeat, c["heartbeat"]);
      continue;
    }
    CHECK_FALSE(result.ok());
    if (!result.failure) continue;
    CHECK(to_string(result.failure->reason) == reason);
    if (c.HasMember("message")) {
      CHECK(result.failure->message == with_path(text_of(c["message"]), path));
    }
    if (c.HasMember("message_prefix")) {
      CHECK_THAT(result.failure->message,
                 Catch::Matchers::StartsWith(with_path(text_of(c["message_prefix"]), path)));
    }
  }
}

TEST_CASE("conformance: timestamps parse to the fixture's instant, and only those") {
  const auto fixture = load_fixture("timestamps.json");
  for (const auto& valid : fixture["valid"].GetArray()) {
    INFO("timestamp: \"" << text_of(valid["text"]) << '"');
    const auto parsed = parse_timestamp(string_of(valid["text"]));
    CHECK(parsed.has_value());
    if (!parsed) continue;
    CHECK(parsed->time_since_epoch().count() == valid["unix_micros"].GetInt64());
    CHECK(format_timestamp(*parsed) == text_of(valid["utc"]));
  }
  for (const auto& invalid : fixture["invalid"].GetArray()) {
    INFO("timestamp: \"" << text_of(invalid) << '"');
    CHECK_FALSE(parse_timestamp(string_of(invalid)).has_value());
  }
}

TEST_CASE("conformance: process keys are valid exactly as the fixture says") {
  const auto fixture = load_fixture("process_keys.json");
  for (const auto& key : fixture["valid"].GetArray()) {
    INFO("key: \"" << text_of(key) << '"');
    CHECK(is_valid_process_key(string_of(key)));
  }
  for (const auto& key : fixture["invalid"].GetArray()) {
    INFO("key: \"" << text_of(key) << '"');
    CHECK_FALSE(is_valid_process_key(string_of(key)));
  }
}

TEST_CASE("conformance: serialize_heartbeat writes the fixture's exact bytes") {
  const auto fixture = load_fixture("serialized.json");
  for (const auto& c : fixture["cases"].GetArray()) {
    INFO("case: " << text_of(c["name"]));
    const rapidjson::Value& heartbeat = c["heartbeat"];
    HeartbeatData data;
    if (!heartbeat["process_key"].IsNull()) data.process_key = text_of(heartbeat["process_key"]);
    data.pid = heartbeat["pid"].GetInt64();
    const auto timestamp = parse_timestamp(string_of(heartbeat["timestamp"]));
    REQUIRE(timestamp.has_value());
    data.timestamp = *timestamp;
    data.status = text_of(heartbeat["status"]);
    if (!heartbeat["iteration"].IsNull()) data.iteration = heartbeat["iteration"].GetUint64();
    data.pid_namespace = optional_count(heartbeat, "pid_namespace");
    data.start_ticks = optional_count(heartbeat, "start_ticks");
    set_run_fields(data, heartbeat);
    CHECK(serialize_heartbeat(data) == text_of(c["json"]));
  }
}

}  // namespace
}  // namespace heartbeat_exporter
