// When a scheduled job is due: five-field cron expressions evaluated in an IANA time zone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "heartbeat_exporter/timestamp.h"

namespace date {
class time_zone;
}  // namespace date

namespace heartbeat_exporter {

// A parsed cron expression: "minute hour day-of-month month day-of-week", or a macro.
//   fields   minute 0-59, hour 0-23, day of month 1-31, month 1-12 or jan-dec, day of week 0-7
//            or sun-sat (0 and 7 are both Sunday); names in any case
//   elements *, N, N-M, */S, N-M/S and N/S (N up to the field's end, every S), comma-separated
//   macros   @hourly, @daily (@midnight), @weekly, @monthly, @yearly (@annually)
// The two day fields follow Vixie cron (and cronie, and POSIX): a day field counts as
// unrestricted when it starts with "*"; when both are restricted a day is due when either
// matches (so "0 0 13 * 5" is every 13th and every Friday), otherwise when both match.
struct CronExpression {
  std::string text;                 // as written, for messages and the schedule label
  std::uint64_t minutes = 0;        // bit m for minute m
  std::uint32_t hours = 0;          // bit h for hour h
  std::uint32_t days_of_month = 0;  // bit d for day d, 1-31
  std::uint16_t months = 0;         // bit m for month m, 1-12
  std::uint8_t days_of_week = 0;    // bit w for weekday w, 0 (Sunday) to 6
  bool any_day_of_month = false;    // the field starts with "*"
  bool any_day_of_week = false;
};

// Exactly one of cron and error is set. error is one line, e.g.
//   `day-of-month field "32": 32 is not in 1-31`
struct CronResult {
  std::optional<CronExpression> cron;
  std::string error;
};

// Parses a cron expression. Refused: anything but the five fields or a macro above (@reboot
// included: it names no time), ranges that run backwards ("fri-mon"), steps of 0 or beyond the
// field, expressions longer than kMaxCronExpressionLength, and expressions that can never be
// due ("0 0 30 2 *"), so that every schedule has a next time.
CronResult parse_cron(std::string_view text);

inline constexpr std::size_t kMaxCronExpressionLength = 200;

// Exactly one of zone and error is set.
struct TimeZoneResult {
  const date::time_zone* zone = nullptr;  // lives as long as the program
  std::string error;
};

// Looks up an IANA time zone name ("Europe/Berlin", "UTC") in the system's tz database
// (/usr/share/zoneinfo, package tzdata). The first call reads the database's list of names.
TimeZoneResult find_time_zone(std::string_view name);

// When a cron expression is due in a time zone. Local times that the spring change skips are
// due at the first instant after the gap (a 02:30 job on a day that jumps from 02:00 to 03:00
// is due at 03:00); local times that the autumn change repeats are due once, at their first
// occurrence. Every search is bounded (kMaxSearchDays) and gives nullopt past the bound, which
// no expression that parse_cron accepts reaches.
// Thread-safe; cheap to copy.
class Schedule {
 public:
  // `zone` must come from find_time_zone.
  Schedule(CronExpression cron, const date::time_zone* zone);

  // The latest instant at or before `t` at which the job is due.
  std::optional<Timestamp> latest_at_or_before(Timestamp t) const;
  // The first instant after `t` at which the job is due.
  std::optional<Timestamp> next_after(Timestamp t) const;

  const std::string& expression() const { return cron_.text; }
  std::string_view time_zone_name() const;

 private:
  CronExpression cron_;
  const date::time_zone* zone_;
};

// The most days a search looks at: 400 years, the Gregorian calendar's cycle, in which every
// date that exists falls on every weekday.
inline constexpr int kMaxSearchDays = 146097;

}  // namespace heartbeat_exporter
