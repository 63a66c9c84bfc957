#include "heartbeat_exporter/timestamp.h"

#include "util/time_format.h"

namespace heartbeat_exporter {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr Timestamp kFirstInstant{std::chrono::sys_days{std::chrono::year{1} / 1 / 1}};
constexpr Timestamp kLastInstant{std::chrono::sys_days{std::chrono::year{10000} / 1 / 1} -
                                 microseconds{1}};

// Walks the text left to right; every accessor fails rather than skip anything, so that
// whitespace, signs and trailing garbage are never accepted by accident.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}

  bool done() const { return pos_ == text_.size(); }

  bool consume(char expected) {
    if (done() || text_[pos_] != expected) return false;
    ++pos_;
    return true;
  }

  // Exactly `count` ASCII digits; std::isdigit is avoided because it depends on the locale.
  std::optional<int> digits(std::size_t count) {
    if (text_.size() - pos_ < count) return std::nullopt;
    int value = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const char c = text_[pos_ + i];
      if (!is_digit(c)) return std::nullopt;
      value = value * 10 + (c - '0');
    }
    pos_ += count;
    return value;
  }

  // The run of ASCII digits at the cursor, possibly empty.
  std::string_view digit_run() {
    const std::size_t start = pos_;
    while (!done() && is_digit(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }

 private:
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  std::string_view text_;
  std::size_t pos_ = 0;
};

// A fraction of 1 to 9 digits as microseconds; digits past the sixth are truncated, as Python
// itself has no finer resolution.
std::optional<microseconds> parse_fraction(std::string_view digits) {
  if (digits.empty() || digits.size() > 9) return std::nullopt;
  long long value = 0;
  for (std::size_t i = 0; i < 6; ++i) {
    value = value * 10 + (i < digits.size() ? digits[i] - '0' : 0);
  }
  return microseconds(value);
}

// The part after the time: nothing (UTC), "Z", or a sign with HH:MM or HHMM.
std::optional<minutes> parse_offset(Cursor& cursor) {
  if (cursor.done()) return minutes(0);
  if (cursor.consume('Z')) return minutes(0);
  int sign = 0;
  if (cursor.consume('+')) {
    sign = 1;
  } else if (cursor.consume('-')) {
    sign = -1;
  } else {
    return std::nullopt;
  }
  const auto hh = cursor.digits(2);
  if (!hh) return std::nullopt;
  cursor.consume(':');
  const auto mm = cursor.digits(2);
  if (!mm || *hh > 23 || *mm > 59) return std::nullopt;
  return minutes(sign * (*hh * 60 + *mm));
}

}  // namespace

std::optional<Timestamp> parse_timestamp(std::string_view text) {
  Cursor cursor(text);
  const auto year = cursor.digits(4);
  if (!year || !cursor.consume('-')) return std::nullopt;
  const auto month = cursor.digits(2);
  if (!month || !cursor.consume('-')) return std::nullopt;
  const auto day = cursor.digits(2);
  if (!day || !(cursor.consume('T') || cursor.consume(' '))) return std::nullopt;
  const auto hour = cursor.digits(2);
  if (!hour || !cursor.consume(':')) return std::nullopt;
  const auto minute = cursor.digits(2);
  if (!minute || !cursor.consume(':')) return std::nullopt;
  const auto second = cursor.digits(2);
  if (!second) return std::nullopt;

  microseconds fraction(0);
  if (cursor.consume('.')) {
    const auto parsed = parse_fraction(cursor.digit_run());
    if (!parsed) return std::nullopt;
    fraction = *parsed;
  }
  const auto offset = parse_offset(cursor);
  if (!offset || !cursor.done()) return std::nullopt;

  const std::chrono::year_month_day date{std::chrono::year(*year),
                                         std::chrono::month(static_cast<unsigned>(*month)),
                                         std::chrono::day(static_cast<unsigned>(*day))};
  if (*year < 1 || !date.ok()) return std::nullopt;
  if (*hour > 23 || *minute > 59 || *second > 59) return std::nullopt;

  const Timestamp local_time =
      std::chrono::sys_days(date) + hours(*hour) + minutes(*minute) + seconds(*second) + fraction;
  const Timestamp utc = local_time - *offset;
  // An offset can carry the first or last day into year 0 or 10000, which Python's datetime
  // cannot hold in UTC and format_timestamp could not write back.
  if (utc < kFirstInstant || utc > kLastInstant) return std::nullopt;
  return utc;
}

std::string format_timestamp(Timestamp timestamp) { return detail::format_rfc3339(timestamp); }

double to_unix_seconds(Timestamp timestamp) {
  return std::chrono::duration<double>(timestamp.time_since_epoch()).count();
}

}  // namespace heartbeat_exporter
