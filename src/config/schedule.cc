#include "config/schedule.h"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <exception>
#include <span>
#include <vector>

namespace heartbeat_exporter {
namespace {

using std::chrono::minutes;
using LocalMinutes = date::local_time<minutes>;

struct FieldSpec {
  std::string_view name;  // as error messages name the field
  int low;
  int high;
  // Names of low, low + 1, ...: three-letter, matched in any case; empty when the field has none.
  std::span<const std::string_view> names;
  std::string_view names_hint;  // e.g. "jan-dec"
};

constexpr std::array<std::string_view, 12> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                          "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> kWeekdayNames = {"sun", "mon", "tue", "wed",
                                                           "thu", "fri", "sat"};

const std::array<FieldSpec, 5>& field_specs() {
  static const std::array<FieldSpec, 5> specs = {{
      {"minute", 0, 59, {}, ""},
      {"hour", 0, 23, {}, ""},
      {"day-of-month", 1, 31, {}, ""},
      {"month", 1, 12, kMonthNames, "jan-dec"},
      {"day-of-week", 0, 7, kWeekdayNames, "sun-sat"},
  }};
  return specs;
}

struct Macro {
  std::string_view name;
  std::string_view expression;
};

constexpr std::array<Macro, 7> kMacros = {{
    {"@hourly", "0 * * * *"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},
    {"@monthly", "0 0 1 * *"},
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
}};

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (;;) {
    auto end = text.find(separator);
    parts.push_back(text.substr(0, end));
    if (end == std::string_view::npos) return parts;
    text.remove_prefix(end + 1);
  }
}

std::vector<std::string_view> split_blanks(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_blank(text[i])) ++i;
    std::size_t begin = i;
    while (i < text.size() && !is_blank(text[i])) ++i;
    if (i > begin) words.push_back(text.substr(begin, i - begin));
  }
  return words;
}

std::string range_text(int low, int high) {
  return std::to_string(low) + "-" + std::to_string(high);
}

// Parses one field into a bit set over low..high; on failure sets `error` (without the field's
// name, which the caller adds).
class FieldParser {
 public:
  explicit FieldParser(const FieldSpec& spec) : spec_(spec) {}

  std::optional<std::uint64_t> parse(std::string_view field) {
    std::uint64_t bits = 0;
    for (std::string_view element : split(field, ',')) {
      if (element.empty()) return fail("empty list element");
      auto element_bits = parse_element(element);
      if (!element_bits) return std::nullopt;
      bits |= *element_bits;
    }
    return bits;
  }

  std::string error;

 private:
  std::nullopt_t fail(std::string what) {
    error = std::move(what);
    return std::nullopt;
  }

  std::optional<std::uint64_t> parse_element(std::string_view element) {
    auto slash = element.find('/');
    std::string_view base = element.substr(0, slash);
    int step = 1;
    if (slash != std::string_view::npos) {
      auto step_value = parse_number(element.substr(slash + 1), /*names=*/false);
      if (!step_value) return std::nullopt;
      if (*step_value < 1 || *step_value > spec_.high) {
        return fail("step " + std::to_string(*step_value) + " is not in " +
                    range_text(1, spec_.high));
      }
      step = *step_value;
    }
    int first = spec_.low;
    int last = spec_.high;
    if (base != "*") {
      auto dash = base.find('-');
      auto start = parse_value(base.substr(0, dash));
      if (!start) return std::nullopt;
      first = *start;
      if (dash != std::string_view::npos) {
        auto end = parse_value(base.substr(dash + 1));
        if (!end) return std::nullopt;
        last = *end;
        if (last < first) {
          return fail("range " + std::string(base) + " runs backwards (write it as two ranges)");
        }
      } else if (slash == std::string_view::npos) {
        last = first;  // a single value; "N/S" runs from N to the field's end
      }
    }
    std::uint64_t bits = 0;
    for (int value = first; value <= last; value += step) bits |= std::uint64_t{1} << value;
    return bits;
  }

  std::optional<int> parse_value(std::string_view text) {
    auto value = parse_number(text, /*names=*/true);
    if (!value) return std::nullopt;
    if (*value < spec_.low || *value > spec_.high) {
      return fail(std::to_string(*value) + " is not in " + range_text(spec_.low, spec_.high));
    }
    return value;
  }

  std::optional<int> parse_number(std::string_view text, bool names) {
    if (names && !spec_.names.empty()) {
      auto name = lowercase(text);
      auto found = std::find(spec_.names.begin(), spec_.names.end(), name);
      if (found != spec_.names.end()) {
        return spec_.low + static_cast<int>(found - spec_.names.begin());
      }
    }
    // Three digits hold every value a field allows and cannot overflow.
    if (text.empty() || text.size() > 3 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      std::string what = "\"" + std::string(text) + "\" is not a number";
      if (names && !spec_.names.empty())
        what += " or a name (" + std::string(spec_.names_hint) + ")";
      return fail(what);
    }
    int value = 0;
    for (char c : text) value = value * 10 + (c - '0');
    return value;
  }

  const FieldSpec& spec_;
};

constexpr std::array<unsigned, 13> kMostDaysInMonth = {0,  31, 29, 31, 30, 31, 30,
                                                       31, 31, 30, 31, 30, 31};

// Whether some month of the expression has some day of the month it names. When the day of
// the week restricts too (both fields restricted), any weekday would do.
bool can_be_due(const CronExpression& cron) {
  if (!cron.any_day_of_month && !cron.any_day_of_week) return true;
  for (unsigned month = 1; month <= 12; ++month) {
    if ((cron.months >> month & 1) == 0) continue;
    for (unsigned day = 1; day <= kMostDaysInMonth[month]; ++day) {
      if (cron.days_of_month >> day & 1) return true;
    }
  }
  return false;
}

CronResult parse_fields(std::string_view text, std::string_view as_written) {
  auto fields = split_blanks(text);
  if (fields.size() != 5) {
    return {std::nullopt,
            "expected 5 fields (minute hour day-of-month month day-of-week) or a macro such as "
            "@daily, got " +
                std::to_string(fields.size()) + " field" + (fields.size() == 1 ? "" : "s")};
  }
  CronExpression cron;
  cron.text = std::string(as_written);
  std::array<std::uint64_t, 5> bits{};
  for (std::size_t i = 0; i < fields.size(); ++i) {
    FieldParser parser(field_specs()[i]);
    auto parsed = parser.parse(fields[i]);
    if (!parsed) {
      return {std::nullopt, std::string(field_specs()[i].name) + " field \"" +
                                std::string(fields[i]) + "\": " + parser.error};
    }
    bits[i] = *parsed;
  }
  cron.minutes = bits[0];
  cron.hours = static_cast<std::uint32_t>(bits[1]);
  cron.days_of_month = static_cast<std::uint32_t>(bits[2]);
  cron.months = static_cast<std::uint16_t>(bits[3]);
  // 7 is Sunday as well as 0.
  cron.days_of_week = static_cast<std::uint8_t>((bits[4] | bits[4] >> 7) & 0x7f);
  cron.any_day_of_month = fields[2].starts_with('*');
  cron.any_day_of_week = fields[4].starts_with('*');
  if (!can_be_due(cron)) {
    return {std::nullopt, "is never due: none of its months has any of its days of the month"};
  }
  return {std::move(cron), {}};
}

}  // namespace

CronResult parse_cron(std::string_view text) {
  if (text.size() > kMaxCronExpressionLength) {
    return {std::nullopt,
            "longer than " + std::to_string(kMaxCronExpressionLength) + " characters"};
  }
  if (!std::all_of(text.begin(), text.end(),
                   [](char c) { return is_blank(c) || (c > ' ' && c < 0x7f); })) {
    return {std::nullopt, "must be printable ASCII"};
  }
  while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
  if (text.empty()) return {std::nullopt, "must not be empty"};
  if (!text.starts_with('@')) return parse_fields(text, text);
  auto name = lowercase(text);
  if (name == "@reboot") return {std::nullopt, "@reboot names no time of day; use five fields"};
  for (const Macro& macro : kMacros) {
    if (name == macro.name) return parse_fields(macro.expression, text);
  }
  return {std::nullopt, "unknown macro \"" + std::string(text) +
                            "\" (use @hourly, @daily, @weekly, @monthly, @yearly or five fields)"};
}

TimeZoneResult find_time_zone(std::string_view name) {
  if (name.empty()) return {nullptr, "must not be empty"};
  if (name.size() > 100 ||
      !std::all_of(name.begin(), name.end(), [](char c) { return c > ' ' && c < 0x7f; })) {
    return {nullptr, "not an IANA time zone name"};
  }
  try {
    return {date::locate_zone(name), {}};
  } catch (const std::exception&) {
    // locate_zone says only "<name> not found in timezone database".
    return {nullptr, "unknown time zone \"" + std::string(name) +
                         "\" (not in the tz database, /usr/share/zoneinfo)"};
  }
}

namespace {

bool day_is_due(const CronExpression& cron, const date::year_month_day& day,
                date::weekday weekday) {
  bool by_month_day = (cron.days_of_month >> unsigned(day.day()) & 1) != 0;
  bool by_weekday = (cron.days_of_week >> weekday.c_encoding() & 1) != 0;
  if (cron.any_day_of_month || cron.any_day_of_week) return by_month_day && by_weekday;
  return by_month_day || by_weekday;
}

bool month_is_due(const CronExpression& cron, const date::year_month_day& day) {
  return (cron.months >> unsigned(day.month()) & 1) != 0;
}

// The first minute of the day at or after `start` (minutes since midnight) that is due.
std::optional<int> first_minute_from(const CronExpression& cron, int start) {
  for (int hour = start / 60; hour < 24; ++hour) {
    if ((cron.hours >> hour & 1) == 0) continue;
    int from = hour == start / 60 ? start % 60 : 0;
    std::uint64_t due = cron.minutes & (~std::uint64_t{0} << from);
    if (due != 0) return hour * 60 + std::countr_zero(due);
  }
  return std::nullopt;
}

// The last minute of the day at or before `end` (minutes since midnight) that is due.
std::optional<int> last_minute_until(const CronExpression& cron, int end) {
  for (int hour = end / 60; hour >= 0; --hour) {
    if ((cron.hours >> hour & 1) == 0) continue;
    int until = hour == end / 60 ? end % 60 : 59;
    std::uint64_t due = cron.minutes & ((std::uint64_t{2} << until) - 1);
    if (due != 0) return hour * 60 + std::bit_width(due) - 1;
  }
  return std::nullopt;
}

constexpr int kMinutesPerDay = 24 * 60;

// The first local minute at or after `from` that the expression names.
std::optional<LocalMinutes> next_due(const CronExpression& cron, LocalMinutes from) {
  date::local_days day = date::floor<date::days>(from);
  int start = static_cast<int>((from - day).count());
  for (int searched = 0; searched < kMaxSearchDays;) {
    date::year_month_day ymd(day);
    if (!month_is_due(cron, ymd)) {
      // Straight to the first of the next month: a monthly job is found in a dozen steps.
      date::local_days next_month(ymd.year() / ymd.month() / 1 + date::months(1));
      searched += static_cast<int>((next_month - day).count());
      day = next_month;
      start = 0;
      continue;
    }
    if (day_is_due(cron, ymd, date::weekday(day))) {
      if (auto minute = first_minute_from(cron, start)) return day + minutes(*minute);
    }
    day += date::days(1);
    start = 0;
    ++searched;
  }
  return std::nullopt;
}

// The last local minute at or before `until` that the expression names.
std::optional<LocalMinutes> latest_due(const CronExpression& cron, LocalMinutes until) {
  date::local_days day = date::floor<date::days>(until);
  int end = static_cast<int>((until - day).count());
  for (int searched = 0; searched < kMaxSearchDays;) {
    date::year_month_day ymd(day);
    if (!month_is_due(cron, ymd)) {
      date::local_days previous_month_end(date::local_days(ymd.year() / ymd.month() / 1) -
                                          date::days(1));
      searched += static_cast<int>((day - previous_month_end).count());
      day = previous_month_end;
      end = kMinutesPerDay - 1;
      continue;
    }
    if (day_is_due(cron, ymd, date::weekday(day))) {
      if (auto minute = last_minute_until(cron, end)) return day + minutes(*minute);
    }
    day -= date::days(1);
    end = kMinutesPerDay - 1;
    ++searched;
  }
  return std::nullopt;
}

}  // namespace

Schedule::Schedule(CronExpression cron, const date::time_zone* zone)
    : cron_(std::move(cron)), zone_(zone) {}

std::string_view Schedule::time_zone_name() const { return zone_->name(); }

namespace {

// The instant a local time is due at: a time skipped by the spring change at the end of the
// gap, a time repeated in autumn at its first occurrence. Never decreases as `local` grows,
// which is what lets the searches below work on local times.
Timestamp due_instant(const date::time_zone& zone, LocalMinutes local) {
  date::local_info info = zone.get_info(date::local_seconds(local));
  if (info.result == date::local_info::nonexistent) return info.second.begin;
  return date::sys_seconds((local - info.first.offset).time_since_epoch());
}

// The first local minute whose due_instant is after t.
LocalMinutes first_local_minute_after(const date::time_zone& zone, Timestamp t) {
  date::sys_info info = zone.get_info(date::floor<std::chrono::seconds>(t));
  auto local = date::local_time<std::chrono::microseconds>((t + info.offset).time_since_epoch());
  LocalMinutes candidate = date::floor<minutes>(local) + minutes(1);
  // During the second pass of a repeated hour, its minutes were due at their first occurrence,
  // before t: the first minute due after t is the one that ends the repetition. Three turns
  // cover any sequence of changes a zone has had.
  for (int turn = 0; turn < 3; ++turn) {
    date::local_info at = zone.get_info(date::local_seconds(candidate));
    if (at.result != date::local_info::ambiguous || due_instant(zone, candidate) > t) break;
    candidate = date::ceil<minutes>(
        date::local_seconds((at.second.begin + at.first.offset).time_since_epoch()));
  }
  return candidate;
}

}  // namespace

std::optional<Timestamp> Schedule::next_after(Timestamp t) const {
  auto due = next_due(cron_, first_local_minute_after(*zone_, t));
  if (!due) return std::nullopt;
  return due_instant(*zone_, *due);
}

std::optional<Timestamp> Schedule::latest_at_or_before(Timestamp t) const {
  auto due = latest_due(cron_, first_local_minute_after(*zone_, t) - minutes(1));
  if (!due) return std::nullopt;
  return due_instant(*zone_, *due);
}

}  // namespace heartbeat_exporter
