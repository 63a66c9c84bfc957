#include "web/basic_auth.h"

#include <crypt.h>

#include <cctype>
#include <memory>

namespace heartbeat_exporter {
namespace {

// Bounds the cache so that a client cycling through passwords that happen to verify cannot
// grow it without end; clearing only costs the next requests one bcrypt each.
constexpr std::size_t kMaxCachedPairs = 256;

// A hash of the right shape that no password matches, so that an unknown user costs as much
// time as a known one and the response time does not tell which user names exist.
constexpr const char* kDummyHash = "$2b$10$9lXExI9bGpSCRPG9yiZy3eiwBN9IvwjKE0NkOYxmDP.mG4OHLqyHT";

std::optional<std::string> base64_decode(std::string_view text) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    auto value = kAlphabet.find(c);
    if (value == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char difference = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    difference |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return difference == 0;
}

bool bcrypt_matches(const std::string& password, const std::string& hash) {
  // crypt_data is about 32 KiB: too big for a civetweb worker's stack.
  auto data = std::make_unique<crypt_data>();
  const char* result = crypt_r(password.c_str(), hash.c_str(), data.get());
  return result != nullptr && result[0] != '*' && constant_time_equal(result, hash);
}

}  // namespace

std::optional<std::pair<std::string, std::string>> parse_basic_authorization(
    std::string_view header) {
  constexpr std::string_view kScheme = "Basic ";
  if (header.size() <= kScheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size() - 1; ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) !=
        std::tolower(static_cast<unsigned char>(kScheme[i]))) {
      return std::nullopt;
    }
  }
  if (header[kScheme.size() - 1] != ' ') return std::nullopt;
  auto decoded = base64_decode(header.substr(kScheme.size()));
  if (!decoded) return std::nullopt;
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::make_pair(decoded->substr(0, colon), decoded->substr(colon + 1));
}

BasicAuth::BasicAuth(std::map<std::string, std::string> users) : users_(std::move(users)) {}

bool BasicAuth::allows(const char* authorization_header) const {
  if (!enabled()) return true;
  if (authorization_header == nullptr) return false;
  auto credentials = parse_basic_authorization(authorization_header);
  if (!credentials) return false;
  return verify(credentials->first, credentials->second);
}

bool BasicAuth::verify(const std::string& user, const std::string& password) const {
  auto found = users_.find(user);
  const std::string& hash = found != users_.end() ? found->second : std::string(kDummyHash);
  // The key holds the hash too, so that a reload with a new hash is never answered from cache.
  std::string key = user + '\0' + hash + '\0' + password;
  {
    std::lock_guard lock(cache_mutex_);
    if (verified_.contains(key)) return true;
  }
  bool ok = bcrypt_matches(password, hash) && found != users_.end();
  if (!ok) return false;
  std::lock_guard lock(cache_mutex_);
  if (verified_.size() >= kMaxCachedPairs) verified_.clear();
  verified_.insert(std::move(key));
  return true;
}

}  // namespace heartbeat_exporter
