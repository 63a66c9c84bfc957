#include "heartbeat_exporter/timestamp.h"

#include <stdlib.h>
#include <time.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>
#include <string>

namespace heartbeat_exporter {
namespace {

// Unix microseconds of a parsed timestamp, or nullopt; expected values come from Python's
// (datetime.fromisoformat(s) - epoch) // timedelta(microseconds=1).
std::optional<std::int64_t> unix_micros(std::string_view text) {
  const auto parsed = parse_timestamp(text);
  if (!parsed) return std::nullopt;
  return parsed->time_since_epoch().count();
}

TEST_CASE("every form Python writes parses to the exact Unix microseconds") {
  const auto [text, expected] = GENERATE(table<const char*, std::int64_t>({
      {"2026-02-05T06:17:29", 1770272249000000},
      {"2026-02-05 06:17:29", 1770272249000000},
      {"2026-02-05T06:17:29.601049", 1770272249601049},
      {"2026-02-05 06:17:29.601049+00:00", 1770272249601049},
      {"2026-02-05T06:17:29.601049+00:00", 1770272249601049},
      {"2026-02-05T06:17:29.601+00:00", 1770272249601000},
      {"2026-02-05T06:17:29.6Z", 1770272249600000},
      {"2026-02-05T06:17:29Z", 1770272249000000},
      {"2026-02-05T06:17:29+0000", 1770272249000000},
      {"2026-02-05T06:17:29.601049-05:30", 1770292049601049},
      {"2026-02-05T06:17:29.601049-0530", 1770292049601049},
      {"1969-12-31T23:59:59.5", -500000},
      {"0001-01-01T00:00:00", -62135596800000000},
      {"9999-12-31T23:59:59.999999", 253402300799999999},
  }));
  INFO(text);
  CHECK(unix_micros(text) == expected);
}

TEST_CASE("fraction digits past microseconds are truncated, not rounded") {
  CHECK(unix_micros("2026-02-05T06:17:29.6010499") == 1770272249601049);
  CHECK(unix_micros("2026-02-05T06:17:29.999999999") == 1770272249999999);
  CHECK(unix_micros("2026-02-05T06:17:29.0000009Z") == 1770272249000000);
}

TEST_CASE("an offset shifts the instant to UTC") {
  CHECK(parse_timestamp("2026-02-05T08:17:29+02:00") == parse_timestamp("2026-02-05T06:17:29Z"));
  CHECK(parse_timestamp("2026-02-05T01:17:29-05:00") == parse_timestamp("2026-02-05T06:17:29Z"));
  CHECK(parse_timestamp("2026-02-04T23:59:00-23:59") == parse_timestamp("2026-02-05T23:58:00Z"));
  CHECK(parse_timestamp("2026-01-01T00:30:00+01:00") == parse_timestamp("2025-12-31T23:30:00Z"));
}

TEST_CASE("leap days exist only in leap years") {
  CHECK(unix_micros("2000-02-29T00:00:00") == 951782400000000);
  CHECK(unix_micros("2024-02-29T12:00:00") == 1709208000000000);
  CHECK_FALSE(parse_timestamp("1900-02-29T00:00:00"));
  CHECK_FALSE(parse_timestamp("2023-02-29T00:00:00"));
  CHECK_FALSE(parse_timestamp("2100-02-29T00:00:00"));
  CHECK(unix_micros("1900-03-01T00:00:00") == -2203891200000000);
}

TEST_CASE("malformed or impossible timestamps are rejected") {
  const char* text = GENERATE(
      // impossible dates and times
      "2026-02-30T00:00:00", "2026-04-31T00:00:00", "2026-13-01T00:00:00", "2026-00-10T00:00:00",
      "2026-01-00T00:00:00", "0000-01-01T00:00:00", "2026-02-05T24:00:00", "2026-02-05T23:60:00",
      "2026-02-05T23:59:60",
      // fractions
      "2026-02-05T06:17:29.", "2026-02-05T06:17:29.1234567890", "2026-02-05T06:17:29.Z",
      "2026-02-05T06:17:29,5",
      // offsets
      "2026-02-05T06:17:29+24:00", "2026-02-05T06:17:29+02:60", "2026-02-05T06:17:29+02",
      "2026-02-05T06:17:29+2:00", "2026-02-05T06:17:29+02:", "2026-02-05T06:17:29+02:00:00",
      "2026-02-05T06:17:29 +02:00", "2026-02-05T06:17:29UTC", "2026-02-05T06:17:29z",
      // separators and shape
      "2026-02-05t06:17:29", "2026-02-05_06:17:29", "2026-02-05T06:17", "2026-02-05",
      "26-02-05T06:17:29", "2026-2-05T06:17:29", "2026-02-05T6:17:29", "20260205T061729",
      "2026/02/05T06:17:29", "",
      // whitespace, garbage, signs
      " 2026-02-05T06:17:29", "2026-02-05T06:17:29 ", "2026-02-05T06:17:29\n",
      "2026-02-05T06:17:29Zjunk", "2026-02-05T06:17:29+00:00x", "+2026-02-05T06:17:29",
      "2026-+2-05T06:17:29", "2026-02-05T06:-7:29", "12026-02-05T06:17:29",
      // non-ASCII digits: Arabic-Indic 2 (U+0662) and fullwidth 2 (U+FF12)
      "\xd9\xa2"
      "026-02-05T06:17:29",
      "\xef\xbc\x92"
      "026-02-05T06:17:29");
  INFO('"' << text << '"');
  CHECK_FALSE(parse_timestamp(text));
}

TEST_CASE("a NUL byte inside the text is rejected, not treated as the end") {
  using namespace std::string_view_literals;
  CHECK_FALSE(parse_timestamp("2026-02-05T06:17:29\0"sv));
  CHECK_FALSE(parse_timestamp("2026-02-05T06:17:29\0Z"sv));
}

TEST_CASE("format_timestamp writes UTC with six fraction digits and +00:00") {
  using std::chrono::microseconds;
  CHECK(format_timestamp(Timestamp(microseconds(1770272249601049))) ==
        "2026-02-05T06:17:29.601049+00:00");
  CHECK(format_timestamp(Timestamp(microseconds(1770272249000000))) ==
        "2026-02-05T06:17:29.000000+00:00");
  CHECK(format_timestamp(Timestamp(microseconds(0))) == "1970-01-01T00:00:00.000000+00:00");
  CHECK(format_timestamp(Timestamp(microseconds(-500000))) == "1969-12-31T23:59:59.500000+00:00");
  CHECK(format_timestamp(Timestamp(microseconds(-62135596800000000))) ==
        "0001-01-01T00:00:00.000000+00:00");
}

TEST_CASE("format then parse gives back the same instant") {
  const std::int64_t micros =
      GENERATE(std::int64_t{0}, std::int64_t{1}, std::int64_t{-1}, std::int64_t{951782400123456},
               std::int64_t{1770272249601049}, std::int64_t{253402300799999999},
               std::int64_t{-62135596800000000});
  const Timestamp timestamp{std::chrono::microseconds(micros)};
  const std::string text = format_timestamp(timestamp);
  INFO(text);
  CHECK(parse_timestamp(text) == timestamp);
}

TEST_CASE("to_unix_seconds converts microseconds to fractional seconds") {
  using std::chrono::microseconds;
  CHECK(to_unix_seconds(Timestamp(microseconds(1770272249500000))) == 1770272249.5);
  CHECK(to_unix_seconds(Timestamp(microseconds(-500000))) == -0.5);
  CHECK(to_unix_seconds(Timestamp(microseconds(0))) == 0.0);
}

TEST_CASE("parsing and formatting ignore the TZ environment variable") {
  const char* saved = std::getenv("TZ");
  const std::optional<std::string> previous =
      saved ? std::optional<std::string>(saved) : std::nullopt;
  const auto before_parse = unix_micros("2026-07-05T06:17:29.601049");
  const auto before_format =
      format_timestamp(Timestamp(std::chrono::microseconds(1783232249601049)));

  ::setenv("TZ", "America/New_York", 1);
  ::tzset();
  const auto after_parse = unix_micros("2026-07-05T06:17:29.601049");
  const auto after_format =
      format_timestamp(Timestamp(std::chrono::microseconds(1783232249601049)));
  if (previous) {
    ::setenv("TZ", previous->c_str(), 1);
  } else {
    ::unsetenv("TZ");
  }
  ::tzset();

  CHECK(before_parse == 1783232249601049);
  CHECK(after_parse == 1783232249601049);
  CHECK(before_format == "2026-07-05T06:17:29.601049+00:00");
  CHECK(after_format == "2026-07-05T06:17:29.601049+00:00");
}

// Found by fuzz_timestamp: an offset carried these into year 0 and year 10000, which
// format_timestamp could not write back and Python cannot hold in UTC.
TEST_CASE("an offset that moves the instant out of years 1 to 9999 is rejected") {
  CHECK_FALSE(parse_timestamp("0001-01-01T06:17:29+23:59"));
  CHECK_FALSE(parse_timestamp("9999-12-31T23:59:59-00:01"));
  CHECK(parse_timestamp("0001-01-01T23:59:00+23:59"));
  CHECK(parse_timestamp("9999-12-31T23:59:59.999999+00:00"));
}

}  // namespace
}  // namespace heartbeat_exporter
