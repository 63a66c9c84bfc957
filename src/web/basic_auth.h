#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <semaphore>
#include <string>
#include <string_view>
#include <unordered_set>

namespace heartbeat_exporter {

// Decodes "Basic <base64(user:password)>"; nullopt for anything else, and for a user or
// password with a NUL byte (crypt() would stop there) or bytes that are not UTF-8.
std::optional<std::pair<std::string, std::string>> parse_basic_authorization(
    std::string_view header);

enum class AuthDecision {
  kAllowed,
  kRefused,
  // Every bcrypt slot was taken, so this request's password was not checked.
  kBusy,
};

// Checks HTTP basic auth against bcrypt hashes with libcrypt's crypt_r. bcrypt is slow on
// purpose (tens of milliseconds), so a pair that verified once is remembered, as the
// exporter-toolkit does; a wrong password is checked afresh every time, but only while one of
// `max_concurrent_bcrypt` slots is free, so that a flood of wrong passwords takes at most that
// many cores and answers quickly instead of holding the web server's workers.
class BasicAuth {
 public:
  explicit BasicAuth(std::map<std::string, std::string> users,
                     std::size_t max_concurrent_bcrypt = default_bcrypt_concurrency());

  bool enabled() const { return !users_.empty(); }
  AuthDecision check(const char* authorization_header);
  // True when the Authorization header names a user whose password matches.
  bool allows(const char* authorization_header) {
    return check(authorization_header) == AuthDecision::kAllowed;
  }

  // Half the cores, at least one.
  static std::size_t default_bcrypt_concurrency();
  // What an unknown user's password is checked against: a hash that nothing matches, with the
  // bcrypt cost that most configured hashes have, so that its answer takes as long as a known
  // user's and response times do not tell which user names exist.
  const std::string& dummy_hash() const { return dummy_hash_; }

 private:
  AuthDecision verify(const std::string& user, const std::string& password);

  std::map<std::string, std::string> users_;
  std::string dummy_hash_;
  std::counting_semaphore<> bcrypt_slots_;
  std::mutex cache_mutex_;  // guards verified_
  std::unordered_set<std::string> verified_;
};

}  // namespace heartbeat_exporter
