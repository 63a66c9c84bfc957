#include "web/basic_auth.h"

// Shows optional values in failure messages instead of "{?}".
#define CATCH_CONFIG_ENABLE_OPTIONAL_STRINGMAKER

#include <crypt.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace heartbeat_exporter {
namespace {

using Credentials = std::optional<std::pair<std::string, std::string>>;
using Users = std::map<std::string, std::string>;

// bcrypt of "s3cret", as `htpasswd -nbBC 10` writes it ($2y$) and as Python's bcrypt does ($2b$).
constexpr const char* kHash2b = "$2b$10$9lXExI9bGpSCRPG9yiZy3eiwBN9IvwjKE0NkOYxmDP.mG4OHLqyHS";
constexpr const char* kHash2y = "$2y$10$9lXExI9bGpSCRPG9yiZy3eiwBN9IvwjKE0NkOYxmDP.mG4OHLqyHS";

// base64("alice:s3cret"), base64("alice:wrong"), base64("bob:s3cret")
constexpr const char* kAliceRight = "Basic YWxpY2U6czNjcmV0";
constexpr const char* kAliceWrong = "Basic YWxpY2U6d3Jvbmc=";
constexpr const char* kBobRight = "Basic Ym9iOnMzY3JldA==";

TEST_CASE("Basic credentials are decoded, with the scheme matched case-insensitively") {
  const Credentials alice = std::make_pair(std::string("alice"), std::string("s3cret"));
  CHECK(parse_basic_authorization("Basic YWxpY2U6czNjcmV0") == alice);
  CHECK(parse_basic_authorization("basic YWxpY2U6czNjcmV0") == alice);
  CHECK(parse_basic_authorization("BASIC YWxpY2U6czNjcmV0") == alice);
  // base64("bob:s3cret") ends in padding.
  CHECK(parse_basic_authorization("Basic Ym9iOnMzY3JldA==") ==
        Credentials(std::make_pair(std::string("bob"), std::string("s3cret"))));
}

TEST_CASE("a password with colons is split from the user at the first colon") {
  // base64("alice:pa:ss")
  CHECK(parse_basic_authorization("Basic YWxpY2U6cGE6c3M=") ==
        Credentials(std::make_pair(std::string("alice"), std::string("pa:ss"))));
  // base64(":s3cret"): an empty user is still a pair, left for the check to refuse.
  CHECK(parse_basic_authorization("Basic OnMzY3JldA==") ==
        Credentials(std::make_pair(std::string(), std::string("s3cret"))));
}

TEST_CASE("Authorization headers that are not Basic user:password are refused") {
  for (const char* header :
       {"", "Bearer x", "Bearer YWxpY2U6czNjcmV0", "Basic", "Basic ", "Basic !!!",
        "Basic YWxp Y2U6czNjcmV0", "BasicYWxpY2U6czNjcmV0", "Basics YWxpY2U6czNjcmV0",
        // base64("alice"): no colon.
        "Basic YWxpY2U="}) {
    INFO('"' << header << '"');
    CHECK(parse_basic_authorization(header) == std::nullopt);
  }
}

TEST_CASE("the right password is allowed for $2b$ and $2y$ hashes") {
  for (const char* hash : {kHash2b, kHash2y}) {
    INFO(hash);
    BasicAuth auth(Users{{"alice", hash}});
    CHECK(auth.enabled());
    CHECK(auth.allows(kAliceRight));
    // Twice: the second answer comes from the cache of verified pairs.
    CHECK(auth.allows(kAliceRight));
  }
}

TEST_CASE("a wrong password is refused, also right after the right one was cached") {
  BasicAuth auth(Users{{"alice", kHash2b}});
  CHECK_FALSE(auth.allows(kAliceWrong));
  REQUIRE(auth.allows(kAliceRight));
  CHECK_FALSE(auth.allows(kAliceWrong));
  // base64("alice:s3cre") and base64("alice:s3cret!"): a prefix or an extension of the right one.
  CHECK_FALSE(auth.allows("Basic YWxpY2U6czNjcmU="));
  CHECK_FALSE(auth.allows("Basic YWxpY2U6czNjcmV0IQ=="));
  CHECK(auth.allows(kAliceRight));
}

TEST_CASE("an unknown user is refused even with a known user's password") {
  BasicAuth auth(Users{{"alice", kHash2b}});
  CHECK_FALSE(auth.allows(kBobRight));
  REQUIRE(auth.allows(kAliceRight));
  CHECK_FALSE(auth.allows(kBobRight));
}

TEST_CASE("a request without credentials or with another scheme is refused") {
  BasicAuth auth(Users{{"alice", kHash2b}});
  CHECK_FALSE(auth.allows(nullptr));
  CHECK_FALSE(auth.allows(""));
  CHECK_FALSE(auth.allows("Bearer YWxpY2U6czNjcmV0"));
}

TEST_CASE("without users basic auth is disabled and allows every request") {
  BasicAuth auth(Users{});
  CHECK_FALSE(auth.enabled());
  CHECK(auth.allows(nullptr));
  CHECK(auth.allows(""));
  CHECK(auth.allows(kAliceWrong));
  CHECK(auth.allows("Bearer x"));
}

TEST_CASE("credentials with a NUL byte or bytes that are not UTF-8 are refused") {
  for (const char* header : {
           "Basic YWxpY2U6czMAY3JldA==",  // alice:s3\0cret: crypt() would stop at the NUL
           "Basic YWwAaWNlOnMzY3JldA==",  // al\0ice:s3cret
           "Basic YWz/aWNlOnMzY3JldA==",  // al\xffice:s3cret
           "Basic YWxpY2U6wyg=",          // alice:\xc3( , a truncated sequence
           "Basic YWxpY2U6czNjcmV07aCA",  // alice:s3cret + an encoded surrogate
       }) {
    INFO(header);
    CHECK(parse_basic_authorization(header) == std::nullopt);
  }
  // UTF-8 beyond ASCII is fine: base64("jörg:päss").
  CHECK(parse_basic_authorization("Basic asO2cmc6cMOkc3M=") ==
        Credentials(std::make_pair(std::string("j\xc3\xb6rg"), std::string("p\xc3\xa4ss"))));
  // The hash of "s3" would match "s3\0cret" if the password reached crypt() with its NUL.
  BasicAuth auth(Users{{"alice", crypt("s3", "$2b$04$abcdefghijklmnopqrstuu")}});
  CHECK(auth.allows("Basic YWxpY2U6czM="));  // alice:s3
  CHECK_FALSE(auth.allows("Basic YWxpY2U6czMAY3JldA=="));
}

TEST_CASE("the dummy hash for unknown users has the cost most configured hashes have") {
  CHECK(BasicAuth(Users{{"alice", "$2y$05$9lXExI9bGpSCRPG9yiZy3eiwBN9IvwjKE0NkOYxmDP.mG4OHLqyHS"}})
            .dummy_hash()
            .substr(0, 7) == "$2b$05$");
  CHECK(BasicAuth(Users{{"a", "$2b$12$x"}, {"b", "$2b$04$x"}, {"c", "$2a$12$x"}})
            .dummy_hash()
            .substr(0, 7) == "$2b$12$");
  // A tie goes to the higher cost.
  CHECK(BasicAuth(Users{{"a", "$2b$04$x"}, {"b", "$2b$06$x"}}).dummy_hash().substr(0, 7) ==
        "$2b$06$");
  CHECK(BasicAuth(Users{}).dummy_hash().substr(0, 7) == "$2b$10$");
}

// The median time of `runs` calls of auth.check(header), in milliseconds.
double median_check_ms(BasicAuth& auth, const char* header, int runs) {
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    auto start = std::chrono::steady_clock::now();
    REQUIRE(auth.check(header) == AuthDecision::kRefused);
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

TEST_CASE("a wrong password takes as long for an unknown user as for a known one") {
  // Before the dummy hash took the configured cost, cost 4 answered a known user in about 1 ms
  // and an unknown one in about 60 ms (the dummy's cost 10), and cost 12 the other way round.
  for (const char* salt : {"$2b$04$abcdefghijklmnopqrstuu", "$2b$08$abcdefghijklmnopqrstuu"}) {
    BasicAuth auth(Users{{"alice", crypt("s3cret", salt)}});
    const int runs = salt[5] == '4' ? 21 : 7;
    const double known = median_check_ms(auth, kAliceWrong, runs);
    const double unknown = median_check_ms(auth, "Basic Ym9iOndyb25n", runs);  // bob:wrong
    std::printf(
        "basic auth, bcrypt cost %.2s: wrong password for a known user %.2f ms, for an "
        "unknown user %.2f ms (median of %d)\n",
        salt + 4, known, unknown, runs);
    INFO("cost " << std::string(salt + 4, 2) << ": known " << known << " ms, unknown " << unknown
                 << " ms");
    CHECK(unknown < 3 * known);
    CHECK(known < 3 * unknown);
  }
}

TEST_CASE("bcrypt runs at most the given number at once, and beyond that checks answer busy at once",
          "[threads]") {
  // Cost 10: each wrong password holds the one slot for tens of milliseconds, while the other
  // flooding thread finds it taken.
  BasicAuth auth(Users{{"alice", kHash2b}}, 1);
  REQUIRE(auth.check(kAliceRight) == AuthDecision::kAllowed);
  std::atomic<bool> stop = false;
  std::atomic<int> refused = 0, busy = 0, slow_busy = 0;
  auto flood = [&] {
    while (!stop) {
      auto start = std::chrono::steady_clock::now();
      AuthDecision decision = auth.check(kAliceWrong);
      if (decision == AuthDecision::kRefused) ++refused;
      if (decision != AuthDecision::kBusy) continue;
      ++busy;
      // Printed only: on a loaded machine any call may be descheduled for longer.
      if (std::chrono::steady_clock::now() - start > std::chrono::milliseconds(5)) ++slow_busy;
    }
  };
  std::thread first(flood), second(flood);
  // A verified pair needs no slot, so it is allowed throughout.
  int allowed = 0, checks = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((checks < 20 || busy == 0 || refused < 2) && std::chrono::steady_clock::now() < deadline) {
    ++checks;
    if (auth.check(kAliceRight) == AuthDecision::kAllowed) ++allowed;
    std::this_thread::yield();
  }
  stop = true;
  first.join();
  second.join();
  std::printf(
      "basic auth, 1 bcrypt slot, 2 threads flooding wrong passwords: %d refused after "
      "bcrypt, %d busy (%d of them slower than 5 ms); %d of %d cached right passwords "
      "allowed meanwhile\n",
      refused.load(), busy.load(), slow_busy.load(), allowed, checks);
  CHECK(refused >= 2);
  // Without the limit, two threads would both run bcrypt and never be answered busy.
  CHECK(busy > 0);
  CHECK(allowed == checks);
}

}  // namespace
}  // namespace heartbeat_exporter
