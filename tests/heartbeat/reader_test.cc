#include "heartbeat_exporter/reader.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "heartbeat/reader_detail.h"
#include "support/open_watch.h"
#include "support/run_in_child.h"
#include "support/temp_dir.h"

namespace heartbeat_exporter {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using testing::TempDir;

constexpr std::int64_t kTimestampMicros = 1770272249601049;  // 2026-02-05T06:17:29.601049Z

// What Python's json.dumps writes for a heartbeat (", " and ": " separators).
const std::string kPythonHeartbeat =
    R"({"process_key": "my_server", "pid": 12345, "timestamp": "2026-02-05T06:17:29.601049+00:00", )"
    R"("status": "running", "iteration": 42})";

// A valid heartbeat with `extra` spliced in as further members, e.g. R"("x": 1)".
std::string heartbeat_with(std::string_view extra) {
  return R"({"pid": 12345, "timestamp": "2026-02-05T06:17:29Z", "status": "running", )" +
         std::string(extra) + "}";
}

ReadError reason_of(const ReadResult& result) {
  REQUIRE(result.failure.has_value());
  return result.failure->reason;
}

std::string message_of(const ReadResult& result) {
  REQUIRE(result.failure.has_value());
  return result.failure->message;
}

std::string nested_arrays(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST_CASE("to_string gives each ReadError its stable snake_case name") {
  CHECK(to_string(ReadError::kMissing) == "missing");
  CHECK(to_string(ReadError::kUnreadable) == "unreadable");
  CHECK(to_string(ReadError::kNotRegularFile) == "not_regular_file");
  CHECK(to_string(ReadError::kSymlink) == "symlink");
  CHECK(to_string(ReadError::kTooLarge) == "too_large");
  CHECK(to_string(ReadError::kInvalidJson) == "invalid_json");
  CHECK(to_string(ReadError::kNotObject) == "not_object");
  CHECK(to_string(ReadError::kMissingField) == "missing_field");
  CHECK(to_string(ReadError::kInvalidField) == "invalid_field");
  CHECK(to_string(ReadError::kInvalidTimestamp) == "invalid_timestamp");
  CHECK(std::size(kAllReadErrors) == 10);
}

TEST_CASE("a heartbeat as Python's json.dumps writes it is read with every field") {
  TempDir dir;
  const auto result = read_heartbeat(dir.write("my_server.json", kPythonHeartbeat));
  REQUIRE(result.ok());
  CHECK_FALSE(result.failure.has_value());
  const HeartbeatData& data = *result.heartbeat;
  CHECK(data.process_key == "my_server");
  CHECK(data.pid == 12345);
  CHECK(data.timestamp.time_since_epoch().count() == kTimestampMicros);
  CHECK(data.status == "running");
  CHECK(data.iteration == std::uint64_t{42});
}

TEST_CASE("timestamps from isoformat without microseconds and from str(datetime) are read") {
  const auto [timestamp, expected] = GENERATE(table<const char*, std::int64_t>({
      {"2026-02-05T06:17:29+00:00", 1770272249000000},         // isoformat(), microsecond == 0
      {"2026-02-05 06:17:29.601049+00:00", kTimestampMicros},  // str(aware datetime)
      {"2026-02-05 06:17:29", 1770272249000000},               // str(naive datetime)
      {"2026-02-05T06:17:29.601049", kTimestampMicros},        // naive isoformat(), taken as UTC
      {"2026-02-05T08:17:29.601049+02:00", kTimestampMicros},  // isoformat() of a CET+1 time
  }));
  TempDir dir;
  const std::string json =
      std::string(R"({"pid": 7, "timestamp": ")") + timestamp + R"(", "status": "running"})";
  const auto result = read_heartbeat(dir.write("a.json", json));
  INFO(json);
  REQUIRE(result.ok());
  CHECK(result.heartbeat->timestamp.time_since_epoch().count() == expected);
}

TEST_CASE("optional process_key and iteration are nullopt when absent") {
  const auto result =
      parse_heartbeat(R"({"pid": 1, "timestamp": "2026-02-05T06:17:29Z", "status": "x"})");
  REQUIRE(result.ok());
  CHECK(result.heartbeat->process_key == std::nullopt);
  CHECK(result.heartbeat->iteration == std::nullopt);
  CHECK(result.heartbeat->status == "x");
}

TEST_CASE("unknown extra fields are ignored, even repeated or deeply nested") {
  const auto result = parse_heartbeat(
      heartbeat_with(R"("host": "a", "host": "b", "extra": {"nested": [1, 2, {"x": null}]})"));
  REQUIRE(result.ok());
  CHECK(result.heartbeat->pid == 12345);
}

TEST_CASE("a missing file is missing and the message names the path") {
  TempDir dir;
  const auto path = dir / "absent.json";
  const auto result = read_heartbeat(path);
  CHECK(reason_of(result) == ReadError::kMissing);
  CHECK_THAT(message_of(result),
             Equals("opening heartbeat file \"" + path.string() + "\": No such file or directory"));
}

TEST_CASE("a path below a regular file (ENOTDIR) is missing") {
  TempDir dir;
  dir.write("afile", "not a folder");
  const auto result = read_heartbeat(dir / "afile" / "x.json");
  CHECK(reason_of(result) == ReadError::kMissing);
  CHECK_THAT(message_of(result), Contains("Not a directory"));
}

TEST_CASE("a symlink loop is unreadable with the system's error text") {
  TempDir dir;
  std::filesystem::create_symlink(dir / "b.json", dir / "a.json");
  std::filesystem::create_symlink(dir / "a.json", dir / "b.json");
  const auto result = read_heartbeat(dir / "a.json");
  CHECK(reason_of(result) == ReadError::kUnreadable);
  CHECK_THAT(message_of(result), Equals("opening heartbeat file \"" + (dir / "a.json").string() +
                                        "\": Too many levels of symbolic links"));
}

// Reads `path` in a child that runs as the user "nobody", since root may read a mode-000 file.
// Returns "<reason>: <message>" as the child saw it.
std::string read_as_nobody(const std::filesystem::path& path) {
  return testing::run_in_child([&]() -> std::string {
    if (::geteuid() == 0 &&
        (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0)) {
      return "dropping privileges failed";
    }
    const auto result = read_heartbeat(path);
    return result.ok()
               ? std::string("ok")
               : std::string(to_string(result.failure->reason)) + ": " + result.failure->message;
  });
}

TEST_CASE("a file without read permission is unreadable with the system's error text") {
  TempDir dir;
  const auto path = dir.write("secret.json", kPythonHeartbeat);
  std::filesystem::permissions(dir.path(), std::filesystem::perms(0755));
  std::filesystem::permissions(path, std::filesystem::perms::none);
  CHECK_THAT(read_as_nobody(path), Equals("unreadable: opening heartbeat file \"" + path.string() +
                                          "\": Permission denied"));
}

TEST_CASE("a FIFO is not_regular_file and does not block") {
  TempDir dir;
  const auto path = dir / "fifo.json";
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  const auto result = read_heartbeat(path);
  CHECK(reason_of(result) == ReadError::kNotRegularFile);
  CHECK_THAT(message_of(result),
             Equals("heartbeat file \"" + path.string() + "\" is not a regular file"));
}

TEST_CASE("a directory is not_regular_file") {
  TempDir dir;
  std::filesystem::create_directory(dir / "folder.json");
  CHECK(reason_of(read_heartbeat(dir / "folder.json")) == ReadError::kNotRegularFile);
}

TEST_CASE("a symlink to /dev/zero is not_regular_file") {
  TempDir dir;
  std::filesystem::create_symlink("/dev/zero", dir / "zero.json");
  CHECK(reason_of(read_heartbeat(dir / "zero.json")) == ReadError::kNotRegularFile);
}

TEST_CASE("a symlink to a regular heartbeat file is followed") {
  TempDir dir;
  const auto target = dir.write("real.json", kPythonHeartbeat);
  std::filesystem::create_symlink(target, dir / "link.json");
  CHECK(read_heartbeat(dir / "link.json").ok());
}

TEST_CASE("a FIFO, a folder and a file over 64 KiB are refused without being opened") {
  TempDir dir;
  const auto fifo = dir / "fifo.json";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::filesystem::create_directory(dir / "folder.json");
  const auto big = dir.write("big.json", std::string(kMaxHeartbeatBytes + 1, ' '));
  testing::OpenWatch fifo_opens(fifo), folder_opens(dir / "folder.json"), big_opens(big);
  // Followed through a symlink too: the type is checked on what the link names.
  std::filesystem::create_symlink(fifo, dir / "to_fifo.json");

  CHECK(reason_of(read_heartbeat(fifo)) == ReadError::kNotRegularFile);
  CHECK(reason_of(read_heartbeat(dir / "to_fifo.json")) == ReadError::kNotRegularFile);
  CHECK(reason_of(read_heartbeat(dir / "folder.json")) == ReadError::kNotRegularFile);
  CHECK(reason_of(read_heartbeat(big)) == ReadError::kTooLarge);
  CHECK(fifo_opens.opens() == 0);
  CHECK(folder_opens.opens() == 0);
  CHECK(big_opens.opens() == 0);
  // The watches do see an open: otherwise the checks above would prove nothing.
  std::ifstream(big).get();
  CHECK(big_opens.opens() == 1);
}

// A file read relative to its folder, as the exporter reads heartbeat folders.
ReadResult read_in_folder(const std::filesystem::path& folder, const char* name,
                          detail::Symlinks symlinks) {
  const detail::FileDescriptor fd(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(fd.get() >= 0);
  return detail::read_heartbeat({fd.get(), name, symlinks, folder / name}, nullptr);
}

TEST_CASE(
    "in a folder that refuses symlinks, any symlink is `symlink` and its target is never "
    "opened, so the reason tells nothing about the target") {
  TempDir dir;
  const auto target = dir.write("private/secret.json", kPythonHeartbeat);
  std::filesystem::create_directory(dir / "hb");
  std::filesystem::create_symlink(target, dir / "hb/leak.json");
  std::filesystem::create_symlink(dir / "private/absent", dir / "hb/probe.json");
  std::filesystem::create_symlink(dir / "private", dir / "hb/folder.json");
  std::filesystem::create_symlink("/etc/passwd", dir / "hb/passwd.json");
  testing::OpenWatch opens(target);

  for (const char* name : {"leak.json", "probe.json", "folder.json", "passwd.json"}) {
    INFO(name);
    const ReadResult result = read_in_folder(dir / "hb", name, detail::Symlinks::kRefuse);
    CHECK(reason_of(result) == ReadError::kSymlink);
    CHECK_THAT(message_of(result), Equals("heartbeat file \"" + (dir / "hb" / name).string() +
                                          "\" is a symbolic link and is not followed"));
  }
  CHECK(opens.opens() == 0);

  // The folder's own files are read, and a folder that opts in follows the link.
  dir.write("hb/own.json", kPythonHeartbeat);
  CHECK(read_in_folder(dir / "hb", "own.json", detail::Symlinks::kRefuse).ok());
  CHECK(read_in_folder(dir / "hb", "leak.json", detail::Symlinks::kFollow).ok());
  CHECK(opens.opens() == 1);
}

TEST_CASE("a file of 64 KiB + 1 byte is too_large") {
  TempDir dir;
  std::string json = kPythonHeartbeat;
  json.append(kMaxHeartbeatBytes + 1 - json.size(), ' ');
  REQUIRE(json.size() == 65537);
  const auto path = dir.write("big.json", json);
  const auto result = read_heartbeat(path);
  CHECK(reason_of(result) == ReadError::kTooLarge);
  CHECK_THAT(message_of(result),
             Equals("heartbeat file \"" + path.string() + "\" is larger than 65536 bytes"));
}

TEST_CASE("a valid file of exactly 64 KiB is read") {
  TempDir dir;
  std::string json = kPythonHeartbeat;
  json.append(kMaxHeartbeatBytes - json.size(), ' ');
  REQUIRE(json.size() == 65536);
  const auto result = read_heartbeat(dir.write("full.json", json));
  REQUIRE(result.ok());
  CHECK(result.heartbeat->pid == 12345);
}

TEST_CASE("a file that is longer than fstat says is still bounded (procfs)") {
  // procfs reports size 0 for files that read megabytes, like a file that grew after fstat.
  REQUIRE(std::filesystem::exists("/proc/kallsyms"));
  CHECK(reason_of(read_heartbeat("/proc/kallsyms")) == ReadError::kTooLarge);
  // A short procfs file is read in full although fstat said 0 bytes.
  const auto result = read_heartbeat("/proc/self/comm");
  CHECK(reason_of(result) == ReadError::kInvalidJson);
  CHECK_THAT(message_of(result), Contains("Invalid value. at offset 0"));
}

TEST_CASE("an empty file is invalid_json") {
  TempDir dir;
  const auto path = dir.write("empty.json", "");
  const auto result = read_heartbeat(path);
  CHECK(reason_of(result) == ReadError::kInvalidJson);
  CHECK_THAT(message_of(result), Equals("heartbeat file \"" + path.string() +
                                        "\": invalid JSON: The document is empty. at offset 0"));
}

TEST_CASE("200,000 nested arrays in a file are too_large before any parsing") {
  TempDir dir;
  const auto path = dir.write("deep.json", nested_arrays(200000));
  CHECK(reason_of(read_heartbeat(path)) == ReadError::kTooLarge);
}

TEST_CASE("200,000 nested arrays parsed in memory do not overflow the stack") {
  SECTION("balanced: well-formed JSON whose top level is an array") {
    const auto result = parse_heartbeat(nested_arrays(200000));
    CHECK(reason_of(result) == ReadError::kNotObject);
    CHECK_THAT(message_of(result), Equals("top level is not a JSON object"));
  }
  SECTION("unclosed: invalid_json at the end of input") {
    const auto result = parse_heartbeat(std::string(200000, '['));
    CHECK(reason_of(result) == ReadError::kInvalidJson);
    CHECK_THAT(message_of(result), Contains("at offset 200000"));
  }
}

TEST_CASE("30,000 nested arrays inside 64 KiB are read from a file without overflow") {
  TempDir dir;
  SECTION("as the top level: not_object") {
    const auto path = dir.write("deep.json", nested_arrays(30000));
    CHECK(reason_of(read_heartbeat(path)) == ReadError::kNotObject);
  }
  SECTION("as an unknown field of a valid heartbeat: ok") {
    const std::string json = heartbeat_with(R"("deep": )" + nested_arrays(30000));
    REQUIRE(json.size() <= kMaxHeartbeatBytes);
    const auto result = read_heartbeat(dir.write("deep.json", json));
    REQUIRE(result.ok());
    CHECK(result.heartbeat->status == "running");
  }
}

TEST_CASE("malformed JSON is invalid_json with RapidJSON's error text and offset") {
  const auto [json, message] = GENERATE(table<std::string, std::string>({
      {R"({"pid": 1,)", "invalid JSON: Missing a name for object member. at offset 10"},
      {R"({"pid": 1} x)",
       "invalid JSON: The document root must not be followed by other values. at offset 11"},
      {R"({'pid': 1})", "invalid JSON: Missing a name for object member. at offset 1"},
      {R"({"pid": 01})",
       "invalid JSON: Missing a comma or '}' after an object member. at offset 9"},
  }));
  INFO(json);
  const auto result = parse_heartbeat(json);
  CHECK(reason_of(result) == ReadError::kInvalidJson);
  CHECK_THAT(message_of(result), Equals(message));
}

TEST_CASE("a NUL byte after the object is invalid_json, not the end of input") {
  using namespace std::string_literals;
  const auto result = parse_heartbeat(heartbeat_with(R"("x": 1)") + "\0garbage"s);
  CHECK(reason_of(result) == ReadError::kInvalidJson);
  CHECK_THAT(message_of(result), Contains("NUL byte at offset"));
}

TEST_CASE("invalid UTF-8 inside a string is invalid_json") {
  const auto result = parse_heartbeat(heartbeat_with("\"note\": \"\xff\xfe\""));
  CHECK(reason_of(result) == ReadError::kInvalidJson);
  CHECK_THAT(message_of(result), Contains("Invalid encoding in string."));
}

TEST_CASE("escapes in strings are decoded, including non-ASCII and \\u0000") {
  const auto result = parse_heartbeat(
      R"({"pid": 1, "timestamp": "2026-02-05T06:17:29Z", "status": "caf\u00e9 \"q\" a\u0000b"})");
  REQUIRE(result.ok());
  CHECK(result.heartbeat->status == std::string("caf\xc3\xa9 \"q\" a\0b", 13));
}

TEST_CASE("a top level that is not an object is not_object") {
  const char* json = GENERATE("[1, 2]", "\"text\"", "42", "null", "true");
  INFO(json);
  CHECK(reason_of(parse_heartbeat(json)) == ReadError::kNotObject);
}

TEST_CASE("each required field that is absent is missing_field, named in the message") {
  const auto [json, message] = GENERATE(table<const char*, const char*>({
      {R"({"timestamp": "2026-02-05T06:17:29Z", "status": "running"})", R"(field "pid": missing)"},
      {R"({"pid": 1, "status": "running"})", R"(field "timestamp": missing)"},
      {R"({"pid": 1, "timestamp": "2026-02-05T06:17:29Z"})", R"(field "status": missing)"},
      {R"({})", R"(field "pid": missing)"},
  }));
  INFO(json);
  const auto result = parse_heartbeat(json);
  CHECK(reason_of(result) == ReadError::kMissingField);
  CHECK_THAT(message_of(result), Equals(message));
}

TEST_CASE("a field of the wrong type is invalid_field, named in the message") {
  const auto [json, message] = GENERATE(table<const char*, const char*>({
      {R"({"pid": "1", "timestamp": "2026-02-05T06:17:29Z", "status": "running"})",
       R"(field "pid": expected an integer)"},
      {R"({"pid": 1.0, "timestamp": "2026-02-05T06:17:29Z", "status": "running"})",
       R"(field "pid": expected an integer)"},
      {R"({"pid": 1e3, "timestamp": "2026-02-05T06:17:29Z", "status": "running"})",
       R"(field "pid": expected an integer)"},
      {R"({"pid": true, "timestamp": "2026-02-05T06:17:29Z", "status": "running"})",
       R"(field "pid": expected an integer)"},
      {R"({"pid": null, "timestamp": "2026-02-05T06:17:29Z", "status": "running"})",
       R"(field "pid": expected an integer)"},
      {R"({"pid": 1, "timestamp": 1770272249, "status": "running"})",
       R"(field "timestamp": expected a string)"},
      {R"({"pid": 1, "timestamp": "2026-02-05T06:17:29Z", "status": 0})",
       R"(field "status": expected a string)"},
      {R"({"pid": 1, "timestamp": "2026-02-05T06:17:29Z", "status": ["running"]})",
       R"(field "status": expected a string)"},
      {R"({"pid": 1, "timestamp": "2026-02-05T06:17:29Z", "status": "ok", "process_key": 5})",
       R"(field "process_key": expected a string)"},
      {R"({"pid": 1, "timestamp": "2026-02-05T06:17:29Z", "status": "ok", "iteration": "3"})",
       R"(field "iteration": expected a non-negative integer)"},
  }));
  INFO(json);
  const auto result = parse_heartbeat(json);
  CHECK(reason_of(result) == ReadError::kInvalidField);
  CHECK_THAT(message_of(result), Equals(message));
}

TEST_CASE("pid must lie in 1..4194304, and the message does not repeat the value") {
  const char* pid = GENERATE("0", "-1", "4194305", "18446744073709551615", "-9223372036854775808");
  INFO(pid);
  const auto result = parse_heartbeat(
      std::string(R"({"timestamp": "2026-02-05T06:17:29Z", "status": "ok", "pid": )") + pid + "}");
  CHECK(reason_of(result) == ReadError::kInvalidField);
  CHECK_THAT(message_of(result), Equals(R"(field "pid": outside 1..4194304)"));
}

TEST_CASE("pid 1 and pid 4194304 are accepted") {
  for (const std::int64_t pid : {std::int64_t{1}, kMaxPid}) {
    const auto result =
        parse_heartbeat(R"({"timestamp": "2026-02-05T06:17:29Z", "status": "ok", "pid": )" +
                        std::to_string(pid) + "}");
    REQUIRE(result.ok());
    CHECK(result.heartbeat->pid == pid);
  }
}

TEST_CASE("iteration must be a non-negative integer") {
  const char* iteration = GENERATE("-1", "1.5", "1.0", "1e2", "true", "null", "-0.0");
  INFO(iteration);
  const auto result = parse_heartbeat(heartbeat_with(std::string(R"("iteration": )") + iteration));
  CHECK(reason_of(result) == ReadError::kInvalidField);
  CHECK_THAT(message_of(result), Equals(R"(field "iteration": expected a non-negative integer)"));
}

TEST_CASE("iteration accepts 0 and the full uint64 range") {
  const auto zero = parse_heartbeat(heartbeat_with(R"("iteration": 0)"));
  REQUIRE(zero.ok());
  CHECK(zero.heartbeat->iteration == std::uint64_t{0});
  const auto max = parse_heartbeat(heartbeat_with(R"("iteration": 18446744073709551615)"));
  REQUIRE(max.ok());
  CHECK(max.heartbeat->iteration == std::uint64_t{18446744073709551615u});
}

TEST_CASE("a known field that appears twice is invalid_field") {
  const auto [duplicate, message] = GENERATE(table<const char*, const char*>({
      {R"("pid": 12345)", R"(field "pid": duplicate field)"},
      {R"("status": "running")", R"(field "status": duplicate field)"},
      {R"("timestamp": "2026-02-05T06:17:29Z")", R"(field "timestamp": duplicate field)"},
      {R"("process_key": "a", "process_key": "a")", R"(field "process_key": duplicate field)"},
      {R"("iteration": 1, "iteration": 2)", R"(field "iteration": duplicate field)"},
  }));
  INFO(duplicate);
  const auto result = parse_heartbeat(heartbeat_with(duplicate));
  CHECK(reason_of(result) == ReadError::kInvalidField);
  CHECK_THAT(message_of(result), Equals(message));
}

TEST_CASE("a string timestamp that does not parse is invalid_timestamp") {
  const auto result =
      parse_heartbeat(R"({"pid": 1, "timestamp": "2026-02-30T06:17:29Z", "status": "running"})");
  CHECK(reason_of(result) == ReadError::kInvalidTimestamp);
  CHECK_THAT(message_of(result), Equals(R"(field "timestamp": not an ISO 8601 timestamp)"));
}

// Messages go to the landing page, the log and heartbeatctl check: whatever a file holds, they
// show no more of it than where JSON broke and which field is wrong.
TEST_CASE("no failure message repeats what the file holds") {
  const std::string secret = "s3cr3t\x1b]0;owned\x07";
  const std::string json_secret = "s3cr3t\\u001b]0;owned\\u0007";
  for (const std::string& json :
       {R"({"pid": 1, "status": "x", "timestamp": ")" + json_secret + "\"}",
        R"({"pid": ")" + json_secret + R"(", "status": "x", "timestamp": "2026-02-05T06:17:29Z"})",
        R"({"pid": 1, "status": ")" + json_secret + R"(", "timestamp": 5})",
        R"({"pid": 1, "status": ")" + json_secret + R"(", "iteration": -1, "timestamp": "x"})",
        R"({"pid": 1, "status": ")" + json_secret + R"(", "status": "y"})",
        R"({"pid": 1, "process_key": 7, "status": ")" + json_secret + R"("})",
        "{\"" + json_secret + "\": \"" + json_secret, "[\"" + json_secret + "\"]", secret}) {
    INFO(json);
    const auto result = parse_heartbeat(json);
    REQUIRE_FALSE(result.ok());
    CHECK(message_of(result).find("s3cr3t") == std::string::npos);
    CHECK(message_of(result).find("owned") == std::string::npos);
  }
}

TEST_CASE(
    "a status or process_key over 256 bytes is kept as its first bytes and \"…\", never "
    "splitting a character") {
  const auto read = [](const std::string& status, const std::string& process_key) {
    const auto result =
        parse_heartbeat(R"({"pid": 1, "timestamp": "2026-02-05T06:17:29Z", "status": ")" + status +
                        R"(", "process_key": ")" + process_key + "\"}");
    REQUIRE(result.ok());
    return *result.heartbeat;
  };
  const std::string exact(256, 's');
  CHECK(read(exact, exact).status == exact);
  CHECK(*read(exact, exact).process_key == exact);

  const auto cut = read(std::string(60000, 's'), std::string(257, 'k'));
  CHECK(cut.status == std::string(253, 's') + "\u2026");
  CHECK(cut.status.size() == kMaxKeptFieldBytes);
  CHECK(*cut.process_key == std::string(253, 'k') + "\u2026");

  // "é" is two bytes: 252 ASCII bytes then "é" would end at byte 254, past the 253 kept.
  const auto two_byte = read(std::string(252, 'a') + "\u00e9\u00e9\u00e9", std::string(300, 'k'));
  CHECK(two_byte.status == std::string(252, 'a') + "\u2026");
  const auto four_byte = read(std::string(250, 'a') + "\U0001F600" + std::string(10, 'b'), "k");
  CHECK(four_byte.status == std::string(250, 'a') + "\u2026");

  // Whatever follows "running", the status is not "running".
  CHECK(read("running" + std::string(300, ' '), "k").status != "running");
}

TEST_CASE("read_heartbeat prefixes validation failures with the path") {
  TempDir dir;
  const auto path = dir.write("bad.json", R"({"pid": 0, "timestamp": "x", "status": "y"})");
  CHECK_THAT(message_of(read_heartbeat(path)),
             Equals("heartbeat file \"" + path.string() + "\": field \"pid\": outside 1..4194304"));
}

// Found by fuzz_heartbeat: RapidJSON 1.1.0 decodes a lone surrogate escape into bytes that
// are not UTF-8; such a status could not be written back or shown safely.
TEST_CASE("a status or process_key that decodes to invalid UTF-8 is invalid_field") {
  auto status =
      parse_heartbeat(R"({"pid": 1, "timestamp": "2026-02-05T06:17:29Z", "status": "run\udc00"})");
  CHECK(reason_of(status) == ReadError::kInvalidField);
  CHECK(message_of(status) == "field \"status\": not valid UTF-8");
  auto key = parse_heartbeat(
      R"({"pid": 1, "timestamp": "2026-02-05T06:17:29Z", "status": "running", "process_key": "\udc00"})");
  CHECK(reason_of(key) == ReadError::kInvalidField);
  CHECK(message_of(key) == "field \"process_key\": not valid UTF-8");
}

}  // namespace
}  // namespace heartbeat_exporter
