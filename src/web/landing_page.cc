#include "web/landing_page.h"

#include <cstdio>

#include "util/time_format.h"
#include "version.h"

namespace heartbeat_exporter {
namespace {

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

std::string render_landing_page(const MonitorReport& report, std::string_view telemetry_path) {
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
  for (const auto& error : report.discovery_errors) {
    out += "<p class=\"error\">" + html_escape(error) + "</p>\n";
  }
  out += "<h2>Processes (" + std::to_string(report.results.size()) + ")</h2>\n";
  out +=
      "<table>\n<tr><th>Process</th><th>State</th><th>Reason</th><th>Age</th>"
      "<th>Timeout</th><th>PID</th><th>Status</th><th>Heartbeat file</th></tr>\n";
  for (const auto& result : report.results) {
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
  out += "</table>\n</body>\n</html>\n";
  return out;
}

}  // namespace heartbeat_exporter
