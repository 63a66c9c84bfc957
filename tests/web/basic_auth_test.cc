#include "web/basic_auth.h"

// Shows optional values in failure messages instead of "{?}".
#define CATCH_CONFIG_ENABLE_OPTIONAL_STRINGMAKER

#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <string>
#include <utility>

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

}  // namespace
}  // namespace heartbeat_exporter
