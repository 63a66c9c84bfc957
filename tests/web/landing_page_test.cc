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

TEST_CASE("the landing page has one row per process, problems first, with every cell") {
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
  CHECK(contains(page, row_b + row_a));
  CHECK(count(page, "<tr class=") == 2);
  CHECK(contains(page, "<h2>Processes (2)</h2>\n"));
  CHECK(contains(page,
                 "<p class=\"counts\">HEALTHY: 1, TIMED_OUT: 0, NO_HEARTBEAT: 1, "
                 "STALE_PID: 0, ERROR_STATUS: 0</p>\n"));
  CHECK_FALSE(contains(page, "class=\"more\""));
}

TEST_CASE(
    "at most max_rows rows are shown, every problem before any healthy process, each in "
    "report order, with a line counting the rest") {
  MonitorReport report;
  const HealthState states[] = {HealthState::kHealthy, HealthState::kTimedOut,
                                HealthState::kHealthy, HealthState::kStalePid,
                                HealthState::kHealthy, HealthState::kNoHeartbeat};
  for (int i = 0; i < 30; ++i) {
    report.results.push_back(
        result_for("p" + std::to_string(100 + i), states[static_cast<std::size_t>(i) % 6]));
  }

  const std::string all = render_landing_page(report, "/metrics", 30);
  CHECK(count(all, "<tr class=") == 30);
  CHECK_FALSE(contains(all, "class=\"more\""));

  const std::string page = render_landing_page(report, "/metrics", 12);
  CHECK(count(page, "<tr class=") == 12);
  CHECK(count(page, "<tr class=\"healthy\">") == 0);
  // The 15 problems in key order, the first 12 of them.
  std::size_t last = 0;
  for (int i = 0, shown = 0; i < 30 && shown < 12; ++i) {
    if (states[static_cast<std::size_t>(i) % 6] == HealthState::kHealthy) continue;
    const auto at = page.find("<td>p" + std::to_string(100 + i) + "</td>");
    INFO(i);
    REQUIRE(at != std::string::npos);
    CHECK(at > last);
    last = at;
    ++shown;
  }
  CHECK(contains(page,
                 "<p class=\"counts\">HEALTHY: 15, TIMED_OUT: 5, NO_HEARTBEAT: 5, "
                 "STALE_PID: 5, ERROR_STATUS: 0</p>\n"));
  CHECK(contains(page,
                 "<p class=\"more\">18 more processes are not shown: this page lists 12, "
                 "those that are not healthy first; <a href=\"/metrics\">the metrics</a> "
                 "have every one.</p>\n"));

  const std::string mixed = render_landing_page(report, "/metrics", 20);
  CHECK(count(mixed, "<tr class=\"healthy\">") == 5);
  CHECK(mixed.find("<tr class=\"healthy\">") > mixed.rfind("<tr class=\"missing\">"));
}

TEST_CASE(
    "the default page shows 1,000 rows of 5,000 in well under 2 MiB, statuses of 256 "
    "bytes included") {
  MonitorReport report;
  for (int i = 0; i < 5000; ++i) {
    report.results.push_back(
        with_heartbeat(result_for("process_" + std::to_string(i), HealthState::kErrorStatus),
                       std::string(253, '<') + "\u2026"));
  }
  const std::string page = render_landing_page(report, "/metrics");
  CHECK(count(page, "<tr class=") == 1000);
  CHECK(contains(page, "4000 more processes are not shown"));
  CHECK(page.size() < 2 * 1024 * 1024);
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

TEST_CASE("a folder over its max_files is named, escaped, with its max_files") {
  MonitorReport report;
  report.folders = {FolderListing{"/hb/<full>", 100000, true}, FolderListing{"/hb/ok", 5, false}};
  const std::string page = render_landing_page(report, "/metrics");
  CHECK(contains(page,
                 "<p class=\"error\">heartbeat folder &quot;/hb/&lt;full&gt;&quot; holds "
                 "more than max_files (100000) heartbeat files; the rest are not read.</p>\n"));
  CHECK(count(page, "max_files") == 1);
}

TEST_CASE("at most 100 discovery errors are shown, then a count of the rest") {
  MonitorReport report;
  for (int i = 0; i < 250; ++i) report.discovery_errors.push_back("error " + std::to_string(i));
  const std::string page = render_landing_page(report, "/metrics");
  CHECK(count(page, "<p class=\"error\">error ") == 100);
  CHECK(contains(page,
                 "<p class=\"error\">error 99</p>\n<p class=\"error\">150 more discovery "
                 "errors are not shown.</p>\n"));
}

TEST_CASE("the page names the version and revision") {
  std::string page = render_landing_page(MonitorReport{}, "/metrics");

  CHECK(contains(page, "<p>Version " + std::string(kVersion) + " (revision " +
                           std::string(kRevision) + ")</p>\n"));
}

}  // namespace
}  // namespace heartbeat_exporter
