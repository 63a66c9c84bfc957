#include "web/landing_page.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "util/text.h"
#include "util/time_format.h"
#include "version.h"

namespace heartbeat_exporter {
namespace {

constexpr std::size_t kMaxDiscoveryErrors = 100;

// The Age column: empty while no heartbeat has been read.
std::string format_age(const CheckResult& result) {
  return result.age_seconds ? detail::format_age(*result.age_seconds) + " s" : "";
}

std::string_view state_class(HealthState state) {
  switch (state) {
    case HealthState::kHealthy:
      return "healthy";
    case HealthState::kTimedOut:
      return "warning";
    case HealthState::kNoHeartbeat:
      return "missing";
    case HealthState::kStalePid:
    case HealthState::kErrorStatus:
      return "critical";
  }
  return "missing";
}

void append_cell(std::string& out, std::string_view text) {
  out += "<td>";
  out += html_escape(text);
  out += "</td>";
}

void append_row(std::string& out, const CheckResult& result) {
  out += "<tr class=\"";
  out += state_class(result.state);
  out += "\">";
  append_cell(out, result.process.key);
  out += "<td class=\"state\">" + html_escape(to_string(result.state)) + "</td>";
  append_cell(out, result.detail.empty() ? result.reason : result.detail);
  append_cell(out, format_age(result));
  char timeout[32];
  std::snprintf(timeout, sizeof timeout, "%g s", result.process.timeout_seconds);
  append_cell(out, timeout);
  append_cell(out, result.heartbeat ? std::to_string(result.heartbeat->pid) : "");
  append_cell(out, result.heartbeat ? result.heartbeat->status : "");
  append_cell(out, result.process.heartbeat_path.string());
  out += "</tr>\n";
}

// The rows to show: problems first, each group in report order, at most max_rows.
std::vector<const CheckResult*> shown_rows(const MonitorReport& report, std::size_t max_rows) {
  std::vector<const CheckResult*> rows;
  rows.reserve(std::min(max_rows, report.results.size()));
  for (const bool healthy : {false, true}) {
    for (const auto& result : report.results) {
      if (rows.size() == max_rows) return rows;
      if ((result.state == HealthState::kHealthy) == healthy) rows.push_back(&result);
    }
  }
  return rows;
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render_landing_page(const MonitorReport& report, std::string_view telemetry_path,
                                std::size_t max_rows) {
  std::string out;
  out += R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Heartbeat Exporter</title>
<style>
body { font-family: sans-serif; margin: 2em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
tr.healthy td.state { background: #c8e6c9; }
tr.warning td.state { background: #ffe0b2; }
tr.critical td.state { background: #ffcdd2; }
tr.missing td.state { background: #e0e0e0; }
</style>
</head>
<body>
<h1>Heartbeat Exporter</h1>
)";
  out += "<p>Version " + html_escape(kVersion) + " (revision " + html_escape(kRevision) + ")</p>\n";
  out += "<p><a href=\"" + html_escape(telemetry_path) + "\">Metrics</a></p>\n";
  // One per skipped file name, so there can be as many as files: bounded like the rows.
  const std::size_t errors = std::min(report.discovery_errors.size(), kMaxDiscoveryErrors);
  for (std::size_t i = 0; i < errors; ++i) {
    out += "<p class=\"error\">" + html_escape(report.discovery_errors[i]) + "</p>\n";
  }
  if (errors < report.discovery_errors.size()) {
    out += "<p class=\"error\">" + std::to_string(report.discovery_errors.size() - errors) +
           " more discovery errors are not shown.</p>\n";
  }
  for (const auto& folder : report.folders) {
    if (!folder.truncated) continue;
    out += "<p class=\"error\">heartbeat folder " + html_escape(detail::quoted(folder.path)) +
           " holds more than max_files (" + std::to_string(folder.max_files) +
           ") heartbeat files; the rest are not read.</p>\n";
  }
  out += "<h2>Processes (" + std::to_string(report.results.size()) + ")</h2>\n";
  out += "<p class=\"counts\">";
  for (const HealthState state : kAllHealthStates) {
    const auto in_state =
        std::count_if(report.results.begin(), report.results.end(),
                      [state](const CheckResult& result) { return result.state == state; });
    if (state != kAllHealthStates.front()) out += ", ";
    out += std::string(to_string(state)) + ": " + std::to_string(in_state);
  }
  out += "</p>\n";
  out +=
      "<table>\n<tr><th>Process</th><th>State</th><th>Reason</th><th>Age</th>"
      "<th>Timeout</th><th>PID</th><th>Status</th><th>Heartbeat file</th></tr>\n";
  const auto rows = shown_rows(report, max_rows);
  for (const CheckResult* result : rows) append_row(out, *result);
  out += "</table>\n";
  if (rows.size() < report.results.size()) {
    out += "<p class=\"more\">" + std::to_string(report.results.size() - rows.size()) +
           " more processes are not shown: this page lists " + std::to_string(max_rows) +
           ", those that are not healthy first; <a href=\"" + html_escape(telemetry_path) +
           "\">the metrics</a> have every one.</p>\n";
  }
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace heartbeat_exporter
