#include "util/log.h"

// Shows optional values in failure messages instead of "{?}".
#define CATCH_CONFIG_ENABLE_OPTIONAL_STRINGMAKER

#include <catch2/catch.hpp>
#include <string>
#include <string_view>

namespace heartbeat_exporter::log {
namespace {

constexpr std::string_view kTime = "2026-02-05T06:17:29.601049+00:00";

std::string logfmt(std::string_view message, Fields fields = {}, Level level = Level::kInfo) {
  return format_event(Format::kLogfmt, kTime, level, message, fields);
}

std::string json(std::string_view message, Fields fields = {}, Level level = Level::kInfo) {
  return format_event(Format::kJson, kTime, level, message, fields);
}

TEST_CASE("parse_level accepts exactly debug, info, warn and error") {
  CHECK(parse_level("debug") == Level::kDebug);
  CHECK(parse_level("info") == Level::kInfo);
  CHECK(parse_level("warn") == Level::kWarn);
  CHECK(parse_level("error") == Level::kError);
  for (const char* text : {"", "INFO", "Info", "warning", "err", " info", "info ", "trace"}) {
    INFO(text);
    CHECK(parse_level(text) == std::nullopt);
  }
}

TEST_CASE("parse_format accepts exactly logfmt and json") {
  CHECK(parse_format("logfmt") == Format::kLogfmt);
  CHECK(parse_format("json") == Format::kJson);
  for (const char* text : {"", "JSON", "Logfmt", "text", "json ", "logfmt,json"}) {
    INFO(text);
    CHECK(parse_format(text) == std::nullopt);
  }
}

TEST_CASE("enabled lets through the configured level and everything above it") {
  configure(Level::kWarn, Format::kJson);
  CHECK_FALSE(enabled(Level::kDebug));
  CHECK_FALSE(enabled(Level::kInfo));
  CHECK(enabled(Level::kWarn));
  CHECK(enabled(Level::kError));

  configure(Level::kDebug, Format::kLogfmt);
  CHECK(enabled(Level::kDebug));

  configure(Level::kError, Format::kLogfmt);
  CHECK_FALSE(enabled(Level::kWarn));
  CHECK(enabled(Level::kError));

  configure(Level::kInfo, Format::kLogfmt);
}

TEST_CASE("a logfmt event is time, level, msg, then the fields in order, on one line") {
  CHECK(logfmt("starting", {{"version", "0.1.0"}, {"address", ":10180"}}) ==
        "time=2026-02-05T06:17:29.601049+00:00 level=info msg=starting version=0.1.0 "
        "address=:10180\n");
  CHECK(logfmt("x", {}, Level::kDebug) ==
        "time=2026-02-05T06:17:29.601049+00:00 level=debug msg=x\n");
  CHECK(logfmt("x", {}, Level::kWarn) ==
        "time=2026-02-05T06:17:29.601049+00:00 level=warn msg=x\n");
  CHECK(logfmt("x", {}, Level::kError) ==
        "time=2026-02-05T06:17:29.601049+00:00 level=error msg=x\n");
}

TEST_CASE("logfmt quotes values with spaces, =, quotes, backslashes, control bytes or none") {
  auto value_of = [](std::string value) {
    std::string line = logfmt("m", {{"k", std::move(value)}});
    const std::string prefix = "time=2026-02-05T06:17:29.601049+00:00 level=info msg=m k=";
    REQUIRE(line.rfind(prefix, 0) == 0);
    REQUIRE(line.back() == '\n');
    return line.substr(prefix.size(), line.size() - prefix.size() - 1);
  };
  CHECK(value_of("plain_value-1.2/x:y") == "plain_value-1.2/x:y");
  CHECK(value_of("two words") == R"("two words")");
  CHECK(value_of("a=b") == R"("a=b")");
  CHECK(value_of(R"(say "hi")") == R"("say \"hi\"")");
  CHECK(value_of(R"(C:\dir)") == R"("C:\\dir")");
  CHECK(value_of("") == R"("")");
  CHECK(value_of("line1\nline2") == R"("line1\nline2")");
  CHECK(value_of("a\tb\rc") == R"("a\tb\rc")");
  CHECK(value_of(std::string("a\x01z\x1f", 4)) == R"("a\u0001z\u001f")");
  CHECK(value_of("caf\xc3\xa9") == "\"caf\xc3\xa9\"");
  CHECK(value_of("del\x7f") == "\"del\x7f\"");
}

TEST_CASE("a logfmt message with spaces is quoted like any value") {
  CHECK(logfmt("process state changed", {{"process", "a"}}, Level::kWarn) ==
        "time=2026-02-05T06:17:29.601049+00:00 level=warn msg=\"process state changed\" "
        "process=a\n");
}

TEST_CASE("a JSON event is one object with time, level, msg, then the fields in order") {
  CHECK(json("process state changed", {{"process", "a"}, {"to", "timed_out"}}, Level::kWarn) ==
        R"({"time":"2026-02-05T06:17:29.601049+00:00","level":"warn",)"
        R"("msg":"process state changed","process":"a","to":"timed_out"})"
        "\n");
  CHECK(json("x") == R"({"time":"2026-02-05T06:17:29.601049+00:00","level":"info","msg":"x"})"
                     "\n");
}

TEST_CASE("JSON escapes quotes, backslashes and control characters, as \\u00XX when unnamed") {
  CHECK(json("m", {{"k", std::string("\"\\\n\r\t\x01\x1f", 7)}}) ==
        R"({"time":"2026-02-05T06:17:29.601049+00:00","level":"info","msg":"m",)"
        R"("k":"\"\\\n\r\t\u0001\u001f"})"
        "\n");
  CHECK(json("a \"quoted\" msg", {{"we\"ird", ""}, {"eq", "a = b"}}) ==
        R"({"time":"2026-02-05T06:17:29.601049+00:00","level":"info","msg":"a \"quoted\" msg",)"
        R"("we\"ird":"","eq":"a = b"})"
        "\n");
  CHECK(json("caf\xc3\xa9") ==
        "{\"time\":\"2026-02-05T06:17:29.601049+00:00\",\"level\":\"info\",\"msg\":\"caf\xc3\xa9\"}"
        "\n");
}

}  // namespace
}  // namespace heartbeat_exporter::log
