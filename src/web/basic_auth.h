#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

namespace heartbeat_exporter {

// Decodes "Basic <base64(user:password)>"; nullopt for anything else.
std::optional<std::pair<std::string, std::string>> parse_basic_authorization(
    std::string_view header);

// Checks HTTP basic auth against bcrypt hashes with libcrypt's crypt_r. bcrypt is slow on
// purpose (tens of milliseconds), so a pair that verified once is remembered, as the
// exporter-toolkit does; a wrong password is checked afresh every time.
class BasicAuth {
 public:
  explicit BasicAuth(std::map<std::string, std::string> users);

  bool enabled() const { return !users_.empty(); }
  // True when the Authorization header names a user whose password matches.
  bool allows(const char* authorization_header) const;

 private:
  bool verify(const std::string& user, const std::string& password) const;

  std::map<std::string, std::string> users_;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_set<std::string> verified_;
};

}  // namespace heartbeat_exporter
