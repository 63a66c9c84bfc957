#include "heartbeat_exporter/reader.h"

#include <fcntl.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "heartbeat/reader_detail.h"
#include "util/bounded_file.h"
#include "util/json.h"
#include "util/text.h"
#include "util/utf8.h"

namespace heartbeat_exporter {
namespace {

using detail::quoted;
using detail::string_of;

std::string field_message(std::string_view field, std::string_view problem) {
  return "field \"" + std::string(field) + "\": " + std::string(problem);
}

ReadResult invalid_field(std::string_view field, std::string_view problem) {
  return ReadResult::fail(ReadError::kInvalidField, field_message(field, problem));
}

ReadResult open_failure(const std::filesystem::path& path, int error) {
  const std::string message =
      "opening heartbeat file " + quoted(path) + ": " + detail::error_text(error);
  // ENOTDIR means a parent is a regular file, so the heartbeat cannot exist either.
  if (error == ENOENT || error == ENOTDIR) return ReadResult::fail(ReadError::kMissing, message);
  return ReadResult::fail(ReadError::kUnreadable, message);
}

ReadResult too_large(const std::filesystem::path& path) {
  return ReadResult::fail(ReadError::kTooLarge, "heartbeat file " + quoted(path) +
                                                    " is larger than " +
                                                    std::to_string(kMaxHeartbeatBytes) + " bytes");
}

struct KnownFields {
  const rapidjson::Value* pid = nullptr;
  const rapidjson::Value* timestamp = nullptr;
  const rapidjson::Value* status = nullptr;
  const rapidjson::Value* process_key = nullptr;
  const rapidjson::Value* iteration = nullptr;
  const rapidjson::Value* pid_namespace = nullptr;
  const rapidjson::Value* start_ticks = nullptr;
  const rapidjson::Value* exit_code = nullptr;
  const rapidjson::Value* started_at = nullptr;
  const rapidjson::Value* duration_seconds = nullptr;
  const rapidjson::Value* last_success = nullptr;
  std::optional<std::string> duplicate;  // a known field that appears twice
};

KnownFields collect_fields(const rapidjson::Value& object) {
  KnownFields fields;
  for (const auto& member : object.GetObject()) {
    const std::string_view name = string_of(member.name);
    const rapidjson::Value** slot = name == "pid"                ? &fields.pid
                                    : name == "timestamp"        ? &fields.timestamp
                                    : name == "status"           ? &fields.status
                                    : name == "process_key"      ? &fields.process_key
                                    : name == "iteration"        ? &fields.iteration
                                    : name == "pid_namespace"    ? &fields.pid_namespace
                                    : name == "start_ticks"      ? &fields.start_ticks
                                    : name == "exit_code"        ? &fields.exit_code
                                    : name == "started_at"       ? &fields.started_at
                                    : name == "duration_seconds" ? &fields.duration_seconds
                                    : name == "last_success"     ? &fields.last_success
                                                                 : nullptr;
    // Unknown fields are skipped so that newer writers can add some without breaking readers.
    if (slot == nullptr) continue;
    // Which of two pids was meant would be a guess, so a repeated field is an error.
    if (*slot != nullptr) {
      fields.duplicate = std::string(name);
      return fields;
    }
    *slot = &member.value;
  }
  return fields;
}

ReadResult missing_field(std::string_view field) {
  return ReadResult::fail(ReadError::kMissingField, field_message(field, "missing"));
}

// Messages name the field and what is wrong with it, never its value: they are shown on the
// landing page and logged, and the file may hold what its writer must not get shown.
constexpr std::string_view kPidOutOfRange = "outside 1..4194304";
static_assert(kMaxPid == 4194304);

// Valid UTF-8 text, cut to kMaxKeptFieldBytes with "…" at the end when it is longer.
std::string kept(std::string_view text) {
  if (text.size() <= kMaxKeptFieldBytes) return std::string(text);
  constexpr std::string_view kEllipsis = "\u2026";
  std::size_t end = kMaxKeptFieldBytes - kEllipsis.size();
  // Back to the first byte of the character that would be split.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  std::string out(text.substr(0, end));
  out += kEllipsis;
  return out;
}

// An optional timestamp field: absent, or a string parse_timestamp accepts.
std::optional<ReadResult> read_timestamp_field(std::string_view field,
                                               const rapidjson::Value* value,
                                               std::optional<Timestamp>& out) {
  if (value == nullptr) return std::nullopt;
  if (!value->IsString()) return invalid_field(field, "expected a string");
  out = parse_timestamp(string_of(*value));
  if (!out) {
    return ReadResult::fail(ReadError::kInvalidTimestamp,
                            field_message(field, "not an ISO 8601 timestamp"));
  }
  return std::nullopt;
}

// The fields of a job's run; a failure is the first that is wrong.
std::optional<ReadResult> read_run_fields(const KnownFields& fields, HeartbeatData& data) {
  if (fields.exit_code != nullptr) {
    const rapidjson::Value& code = *fields.exit_code;
    if (!code.IsInt64() && code.IsUint64()) return invalid_field("exit_code", "outside 0..255");
    if (!code.IsInt64()) return invalid_field("exit_code", "expected an integer");
    if (code.GetInt64() < 0 || code.GetInt64() > kMaxExitCode) {
      return invalid_field("exit_code", "outside 0..255");
    }
    data.exit_code = static_cast<int>(code.GetInt64());
  }
  if (auto failure = read_timestamp_field("started_at", fields.started_at, data.started_at)) {
    return failure;
  }
  if (fields.duration_seconds != nullptr) {
    const rapidjson::Value& duration = *fields.duration_seconds;
    if (!duration.IsNumber()) return invalid_field("duration_seconds", "expected a number");
    const double seconds = duration.GetDouble();
    if (!(seconds >= 0 && seconds <= kMaxDurationSeconds)) {
      return invalid_field("duration_seconds", "outside 0..1e9");
    }
    data.duration = detail::round_to_microseconds(seconds);
  }
  return read_timestamp_field("last_success", fields.last_success, data.last_success);
}

ReadResult validate_heartbeat(const rapidjson::Value& object) {
  const KnownFields fields = collect_fields(object);
  if (fields.duplicate) return invalid_field(*fields.duplicate, "duplicate field");
  if (fields.pid == nullptr) return missing_field("pid");
  if (fields.timestamp == nullptr) return missing_field("timestamp");
  if (fields.status == nullptr) return missing_field("status");

  HeartbeatData data;
  const rapidjson::Value& pid = *fields.pid;
  // A whole number too big for int64 is still an integer, just not a pid.
  if (!pid.IsInt64() && pid.IsUint64()) return invalid_field("pid", kPidOutOfRange);
  if (!pid.IsInt64()) return invalid_field("pid", "expected an integer");
  data.pid = pid.GetInt64();
  if (data.pid < 1 || data.pid > kMaxPid) return invalid_field("pid", kPidOutOfRange);

  if (!fields.timestamp->IsString()) return invalid_field("timestamp", "expected a string");
  const std::string_view timestamp = string_of(*fields.timestamp);
  const auto parsed = parse_timestamp(timestamp);
  if (!parsed) {
    return ReadResult::fail(ReadError::kInvalidTimestamp,
                            field_message("timestamp", "not an ISO 8601 timestamp"));
  }
  data.timestamp = *parsed;

  if (!fields.status->IsString()) return invalid_field("status", "expected a string");
  const std::string_view status = string_of(*fields.status);
  if (!detail::is_valid_utf8(status)) return invalid_field("status", "not valid UTF-8");
  data.status = kept(status);

  if (fields.process_key != nullptr) {
    if (!fields.process_key->IsString()) return invalid_field("process_key", "expected a string");
    const std::string_view process_key = string_of(*fields.process_key);
    if (!detail::is_valid_utf8(process_key)) return invalid_field("process_key", "not valid UTF-8");
    data.process_key = kept(process_key);
  }

  if (fields.iteration != nullptr) {
    // IsUint64 is false for negative numbers and for anything written with a fraction or an
    // exponent, such as 1.0, so a float never passes for a counter.
    if (!fields.iteration->IsUint64()) {
      return invalid_field("iteration", "expected a non-negative integer");
    }
    data.iteration = fields.iteration->GetUint64();
  }
  // Whole numbers as iteration is; a bad one fails the heartbeat, as any bad field does.
  struct Count {
    std::string_view name;
    const rapidjson::Value* value;
    std::optional<std::uint64_t>& kept;
  };
  for (const Count& count : {Count{"pid_namespace", fields.pid_namespace, data.pid_namespace},
                             Count{"start_ticks", fields.start_ticks, data.start_ticks}}) {
    if (count.value == nullptr) continue;
    if (!count.value->IsUint64())
      return invalid_field(count.name, "expected a non-negative integer");
    count.kept = count.value->GetUint64();
  }
  if (auto failure = read_run_fields(fields, data)) return std::move(*failure);
  return ReadResult::success(std::move(data));
}

}  // namespace

std::string_view to_string(ReadError error) {
  switch (error) {
    case ReadError::kMissing:
      return "missing";
    case ReadError::kUnreadable:
      return "unreadable";
    case ReadError::kNotRegularFile:
      return "not_regular_file";
    case ReadError::kSymlink:
      return "symlink";
    case ReadError::kTooLarge:
      return "too_large";
    case ReadError::kInvalidJson:
      return "invalid_json";
    case ReadError::kNotObject:
      return "not_object";
    case ReadError::kMissingField:
      return "missing_field";
    case ReadError::kInvalidField:
      return "invalid_field";
    case ReadError::kInvalidTimestamp:
      return "invalid_timestamp";
  }
  return "unknown";
}

ReadResult read_heartbeat(const std::filesystem::path& path) {
  return detail::read_heartbeat({AT_FDCWD, path.c_str(), detail::Symlinks::kFollow, path}, nullptr);
}

ReadResult detail::read_heartbeat(const HeartbeatFile& file, FileStamp* stamp,
                                  const struct stat* checked) {
  using Status = detail::BoundedFile::Status;
  const std::filesystem::path& path = file.path;
  const detail::BoundedFile read = detail::read_bounded_file_at(
      file.dir_fd, file.name, kMaxHeartbeatBytes, file.symlinks, checked);
  if (stamp != nullptr) *stamp = read.stamp;
  switch (read.status) {
    case Status::kOk:
      break;
    case Status::kOpenFailed:
      return open_failure(path, read.error);
    case Status::kStatFailed:
      return ReadResult::fail(ReadError::kUnreadable, "inspecting heartbeat file " + quoted(path) +
                                                          ": " + detail::error_text(read.error));
    case Status::kNotRegularFile:
      return ReadResult::fail(ReadError::kNotRegularFile,
                              "heartbeat file " + quoted(path) + " is not a regular file");
    case Status::kSymlink:
      return ReadResult::fail(ReadError::kSymlink, "heartbeat file " + quoted(path) +
                                                       " is a symbolic link and is not followed");
    case Status::kTooLarge:
      return too_large(path);
    case Status::kReadFailed:
      return ReadResult::fail(ReadError::kUnreadable, "reading heartbeat file " + quoted(path) +
                                                          ": " + detail::error_text(read.error));
  }

  ReadResult result = parse_heartbeat(read.content);
  if (result.failure) {
    result.failure->message = "heartbeat file " + quoted(path) + ": " + result.failure->message;
  }
  return result;
}

ReadResult parse_heartbeat(std::string_view json) {
  rapidjson::Document document;
  if (const auto error = detail::parse_json(document, json)) {
    return ReadResult::fail(ReadError::kInvalidJson,
                            "invalid JSON: " + std::string(error->message) + " at offset " +
                                std::to_string(error->offset));
  }
  if (!document.IsObject()) {
    return ReadResult::fail(ReadError::kNotObject, "top level is not a JSON object");
  }
  return validate_heartbeat(document);
}

}  // namespace heartbeat_exporter
