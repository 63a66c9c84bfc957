// Scrapes get through while clients misbehave, over real loopback sockets: 1,000 slowloris
// connections, 64 connections that pipeline requests and never read, 16 clients guessing
// passwords as fast as they can. Each case prints its figures (tests/README.md has the last
// run's); the targets are a scrape answered within 1 s during the attack and after it, and the
// exporter under 128 MiB resident. What the tests assert is looser, so that a loaded 2-core CI
// machine does not fail them: a correct answer within kAnswerBound.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "fault/misbehaving_clients.h"
#include "heartbeat_exporter/writer.h"
#include "soak/load.h"
#include "support/temp_dir.h"

using namespace heartbeat_exporter::testing;
using namespace std::chrono_literals;
using Seconds = std::chrono::duration<double>;

namespace {

constexpr int kHeartbeats = 1000;
constexpr Seconds kTarget = 1s;
constexpr Seconds kAnswerBound = 5s;
constexpr long kMaxResidentKib = 128 << 10;
// Long enough to span the 5 s request timeout, so that the server drops and the attack opens
// its connections again while scrapes go on.
constexpr auto kAttackFor = 7s;

// bcrypt of "s3cret" (cost 10), and "Basic " + base64("alice:s3cret").
constexpr const char* kAliceHash = "$2b$10$9lXExI9bGpSCRPG9yiZy3eiwBN9IvwjKE0NkOYxmDP.mG4OHLqyHS";
constexpr const char* kAliceCredentials = "Basic YWxpY2U6czNjcmV0";

struct Fleet {
  TempDir dir;
  std::unique_ptr<WrappedExporter> exporter;

  explicit Fleet(bool basic_auth) {
    raise_open_file_limit();
    for (int i = 0; i < kHeartbeats; ++i) {
      heartbeat_exporter::HeartbeatWriter(dir / "hb", "job-" + std::to_string(i)).beat();
    }
    const auto config = dir.write("config.json", R"({"heartbeat_dirs": [{"path": "hb"}]})");
    std::vector<std::string> flags;
    if (basic_auth) {
      const auto web =
          dir.write("web.yml", std::string("basic_auth_users:\n  alice: ") + kAliceHash + "\n");
      flags.push_back("--web.config.file=" + web.string());
    }
    exporter =
        std::make_unique<WrappedExporter>(std::vector<std::string>{}, config, dir.path(), flags);
  }
  int port() const { return exporter->port(); }
  pid_t pid() { return exporter->process().pid(); }
};

// One gzip scrape as Prometheus makes it and how long it took; error is empty when the answer
// was right: 200, gzip, and every heartbeat healthy.
Scrape gzip_scrape(int port, bool basic_auth) {
  std::map<std::string, std::string> headers;
  if (basic_auth) headers["Authorization"] = kAliceCredentials;
  Scrape result = scrape(port, true, "/metrics", headers);
  if (!result.exposition) return result;
  const auto& states = result.exposition->states;
  const auto healthy = std::count_if(states.begin(), states.end(),
                                     [](const auto& state) { return state.second == "healthy"; });
  if (healthy != kHeartbeats) result.error = std::to_string(healthy) + " healthy processes";
  return result;
}

// Scrapes every 250 ms while `attack` goes on, then stops the attack and scrapes once more;
// prints the figures and checks every answer.
void scrape_through(Fleet& fleet, Attack& attack, const std::string& name, bool basic_auth) {
  // Let the attack take hold: every connection open, or the guessers busy.
  for (int i = 0; i < 100 && attack.open() == 0; ++i) std::this_thread::sleep_for(50ms);
  std::this_thread::sleep_for(1s);
  const std::size_t open_at_start = attack.open();
  std::vector<double> during;
  std::size_t min_open = open_at_start;
  const auto until = std::chrono::steady_clock::now() + kAttackFor;
  while (std::chrono::steady_clock::now() < until) {
    const Scrape answer = gzip_scrape(fleet.port(), basic_auth);
    INFO(name << ": scrape " << during.size() << " during the attack");
    CHECK(answer.error == "");
    CHECK(answer.latency < kAnswerBound);
    during.push_back(answer.latency.count());
    min_open = std::min(min_open, attack.open());
    std::this_thread::sleep_for(250ms);
  }
  const long resident_during = resident_kib(fleet.pid());
  const std::size_t requests = attack.requests();
  const std::size_t closed = attack.closed_by_server();
  const auto statuses = attack.statuses();
  attack.stop();
  const Scrape after = gzip_scrape(fleet.port(), basic_auth);
  INFO(name << ": scrape after the attack");
  CHECK(after.error == "");
  CHECK(after.latency < kAnswerBound);
  const long peak = peak_resident_kib(fleet.pid());
  std::printf(
      "%s: %zu connections open (at least %zu), %zu closed by the exporter, %zu requests "
      "(401: %zu, 503: %zu); %zu scrapes during: median %.3f s, max %.3f s; after: %.3f s "
      "(target %.1f s); VmRSS %ld KiB during, peak %ld KiB (limit %ld)\n",
      name.c_str(), open_at_start, min_open, closed, requests, statuses.at(401), statuses.at(503),
      during.size(), percentile(during, 0.5), percentile(during, 1.0), after.latency.count(),
      kTarget.count(), resident_during, peak, kMaxResidentKib);
  CHECK(peak < kMaxResidentKib);
}

}  // namespace

TEST_CASE("scrapes are answered while 1,000 slowloris connections are open", "[fault]") {
  Fleet fleet(false);
  const Scrape quiet = gzip_scrape(fleet.port(), false);
  REQUIRE(quiet.error == "");
  std::printf("slowloris: quiet scrape of %d heartbeats %.3f s\n", kHeartbeats,
              quiet.latency.count());
  Attack attack(fleet.port(), Misbehaviour::kSlowloris, 1000);
  scrape_through(fleet, attack, "slowloris", false);
}

TEST_CASE("scrapes are answered while 64 connections pipeline requests and never read", "[fault]") {
  Fleet fleet(false);
  REQUIRE(gzip_scrape(fleet.port(), false).error == "");
  Attack attack(fleet.port(), Misbehaviour::kPipelineNeverRead, 64);
  scrape_through(fleet, attack, "pipelining non-readers", false);
}

TEST_CASE("scrapes with the right password are answered while 16 clients guess passwords",
          "[fault]") {
  Fleet fleet(true);
  // Prometheus has scraped before the attack starts: its credentials are verified and cached.
  REQUIRE(gzip_scrape(fleet.port(), true).error == "");
  Attack attack(fleet.port(), Misbehaviour::kWrongPassword, 16);
  scrape_through(fleet, attack, "wrong passwords", true);
}
