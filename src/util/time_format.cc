#include "util/time_format.h"

#include <cstdio>

namespace heartbeat_exporter::detail {

std::string format_rfc3339(std::chrono::sys_time<std::chrono::microseconds> time) {
  const auto date_days = std::chrono::floor<std::chrono::days>(time);
  const std::chrono::year_month_day date(date_days);
  const std::chrono::hh_mm_ss<std::chrono::microseconds> time_of_day(time - date_days);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d.%06lld+00:00",
                static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                static_cast<unsigned>(date.day()), static_cast<int>(time_of_day.hours().count()),
                static_cast<int>(time_of_day.minutes().count()),
                static_cast<int>(time_of_day.seconds().count()),
                static_cast<long long>(time_of_day.subseconds().count()));
  return buffer;
}

std::string format_age(double seconds) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.1f", seconds);
  return buffer;
}

}  // namespace heartbeat_exporter::detail
