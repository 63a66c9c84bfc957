#include "web/landing_page.h"

#include <catch2/catch.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "version.h"

namespace heartbeat_exporter {
namespace {

std::size_t count(std::string_view text, std::string_view needle) {
  std::size_t found = 0;
  for (auto at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + needle.size())) {
    ++found;
  }
  return found;
}

bool contains(std::string_view text, std::string_view needle) {
  return text.find(needle) != std::string_view::npos;
}

CheckResult result_for(std::string key, HealthState state) {
  CheckResult result;
  result.process.key = key;
  result.process.heartbeat_path = "/var/lib/heartbeats/" + key + ".json";
  result.process.timeout_seconds = 30;
  result.state = state;
  return result;
}

CheckResult with_heartbeat(CheckResult result, std::string status = "running") {
  HeartbeatData heartbeat;
  heartbeat.pid = 4242;
  heartbeat.status = std::move(status);
  result.heartbeat = heartbeat;
  result.age_seconds = 95.34;
  return result;
}

TEST_CASE("html_escape replaces exactly & < > \" and '") {
  CHECK(html_escape(R"(a&b<c>d"e'f)") == "a&amp;b&lt;c&gt;d&quot;e&#39;f");
  CHECK(html_escape("&amp;") == "&amp;amp;");
  CHECK(html_escape("plain text / = ; \\ \n caf\xc3\xa9") == "plain text / = ; \\ \n caf\xc3\xa9");
  CHECK(html_escape("").empty());
}

TEST_CASE("the landing page has one row per process, in report order, with every cell") {
  MonitorReport report;
  report.results.push_back(with_heartbeat(result_for("a", HealthState::kHealthy)));
  auto missing = result_for("b", HealthState::kNoHeartbeat);
  missing.reason = "missing";
  missing.detail = "no such file";
  report.results.push_back(missing);

  std::string page = render_landing_page(report, "/metrics");

  const std::string row_a =
      "<tr class=\"healthy\"><td>a</td><td class=\"state\">HEALTHY</td><td></td><td>95.3 s</td>"
      "<td>30 s</td><td>4242</td><td>running</td><td>/var/lib/heartbeats/a.json</td></tr>\n";
  const std::string row_b =
      "<tr class=\"missing\"><td>b</td><td class=\"state\">NO_HEARTBEAT</td><td>no such file</td>"
      "<td></td><td>30 s</td><td></td><td></td><td>/var/lib/heartbeats/b.json</td></tr>\n";
  CHECK(contains(page, row_a + row_b));
  CHECK(count(page, "<tr class=") == 2);
  CHECK(contains(page, "<h2>Processes (2)</h2>\n"));
}

TEST_CASE("an empty report renders a page with no rows and a count of 0") {
  std::string page = render_landing_page(MonitorReport{}, "/metrics");

  CHECK(contains(page, "<h2>Processes (0)</h2>\n"));
  CHECK(count(page, "<tr class=") == 0);
  CHECK(contains(page, "<h1>Heartbeat Exporter</h1>"));
  CHECK(page.rfind("</html>\n") == page.size() - 8);
}

TEST_CASE("the detail is shown, and the reason only when there is no detail") {
  MonitorReport report;
  auto with_detail = result_for("a", HealthState::kTimedOut);
  with_detail.reason = "timed_out";
  with_detail.detail = "last heartbeat 95.3 s ago, timeout 30 s";
  auto reason_only = result_for("b", HealthState::kStalePid);
  reason_only.reason = "process_gone";
  report.results = {with_detail, reason_only};

  std::string page = render_landing_page(report, "/metrics");

  CHECK(contains(page,
                 "<td class=\"state\">TIMED_OUT</td>"
                 "<td>last heartbeat 95.3 s ago, timeout 30 s</td>"));
  CHECK_FALSE(contains(page, "<td>timed_out</td>"));
  CHECK(contains(page, "<td class=\"state\">STALE_PID</td><td>process_gone</td>"));
}

TEST_CASE("each state has its row class") {
  MonitorReport report;
  report.results = {result_for("h", HealthState::kHealthy), result_for("t", HealthState::kTimedOut),
                    result_for("n", HealthState::kNoHeartbeat),
                    result_for("s", HealthState::kStalePid),
                    result_for("e", HealthState::kErrorStatus)};

  std::string page = render_landing_page(report, "/metrics");

  CHECK(contains(page, "<tr class=\"healthy\"><td>h</td><td class=\"state\">HEALTHY</td>"));
  CHECK(contains(page, "<tr class=\"warning\"><td>t</td><td class=\"state\">TIMED_OUT</td>"));
  CHECK(contains(page, "<tr class=\"missing\"><td>n</td><td class=\"state\">NO_HEARTBEAT</td>"));
  CHECK(contains(page, "<tr class=\"critical\"><td>s</td><td class=\"state\">STALE_PID</td>"));
  CHECK(contains(page, "<tr class=\"critical\"><td>e</td><td class=\"state\">ERROR_STATUS</td>"));
}

TEST_CASE("key, detail, status and heartbeat path from files and config are escaped") {
  MonitorReport report;
  auto result =
      with_heartbeat(result_for("<script>", HealthState::kErrorStatus), "<b>bad</b> & 'worse'");
  result.detail = "status is \"<b>bad</b>\"";
  report.results = {result};

  std::string page = render_landing_page(report, "/metrics");

  CHECK(contains(page, "<td>&lt;script&gt;</td>"));
  CHECK(contains(page, "<td>status is &quot;&lt;b&gt;bad&lt;/b&gt;&quot;</td>"));
  CHECK(contains(page, "<td>&lt;b&gt;bad&lt;/b&gt; &amp; &#39;worse&#39;</td>"));
  CHECK(contains(page, "<td>/var/lib/heartbeats/&lt;script&gt;.json</td>"));
  CHECK_FALSE(contains(page, "<script>"));
  CHECK_FALSE(contains(page, "<b>"));
}

TEST_CASE("the telemetry path is linked, escaped") {
  CHECK(contains(render_landing_page(MonitorReport{}, "/metrics"),
                 "<p><a href=\"/metrics\">Metrics</a></p>\n"));
  CHECK(contains(render_landing_page(MonitorReport{}, "/m\"><script>"),
                 "<p><a href=\"/m&quot;&gt;&lt;script&gt;\">Metrics</a></p>\n"));
}

TEST_CASE("discovery errors are shown, one paragraph each, escaped") {
  MonitorReport report;
  report.discovery_errors = {"cannot list heartbeat folder \"/a<b\": Permission denied",
                             "cannot list heartbeat folder \"/c\": No such file or directory"};

  std::string page = render_landing_page(report, "/metrics");

  CHECK(contains(page,
                 "<p class=\"error\">cannot list heartbeat folder &quot;/a&lt;b&quot;: "
                 "Permission denied</p>\n"
                 "<p class=\"error\">cannot list heartbeat folder &quot;/c&quot;: "
                 "No such file or directory</p>\n"));
  CHECK(count(render_landing_page(MonitorReport{}, "/metrics"), "class=\"error\"") == 0);
}

TEST_CASE("the page names the version and revision") {
  std::string page = render_landing_page(MonitorReport{}, "/metrics");

  CHECK(contains(page, "<p>Version " + std::string(kVersion) + " (revision " +
                           std::string(kRevision) + ")</p>\n"));
}

}  // namespace
}  // namespace heartbeat_exporter
