#include "web/basic_auth.h"

#include <crypt.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <thread>

#include "util/utf8.h"

namespace heartbeat_exporter {
namespace {

// Bounds the cache so that a client cycling through passwords that happen to verify cannot
// grow it without end; clearing only costs the next requests one bcrypt each.
constexpr std::size_t kMaxCachedPairs = 256;

// A hash of the right shape that no password matches; its cost ("10") is replaced by that of
// the configured hashes.
constexpr std::string_view kDummyHash =
    "$2b$10$9lXExI9bGpSCRPG9yiZy3eiwBN9IvwjKE0NkOYxmDP.mG4OHLqyHT";

// The two cost digits of a "$2a$", "$2b$" or "$2y$" hash; nullopt for another shape.
std::optional<std::string> bcrypt_cost(std::string_view hash) {
  if (hash.size() < 7 || hash.substr(0, 2) != "$2" || hash[3] != '$' || hash[6] != '$' ||
      !std::isdigit(static_cast<unsigned char>(hash[4])) ||
      !std::isdigit(static_cast<unsigned char>(hash[5]))) {
    return std::nullopt;
  }
  return std::string(hash.substr(4, 2));
}

std::string make_dummy_hash(const std::map<std::string, std::string>& users) {
  std::map<std::string, int> users_per_cost;
  for (const auto& [user, hash] : users) {
    if (auto cost = bcrypt_cost(hash)) ++users_per_cost[*cost];
  }
  // The most common cost; on a tie the higher one, since costs sort as two digits.
  std::string cost(kDummyHash.substr(4, 2));
  int most = 0;
  for (const auto& [candidate, count] : users_per_cost) {
    if (count >= most) {
      cost = candidate;
      most = count;
    }
  }
  std::string hash(kDummyHash);
  hash.replace(4, 2, cost);
  return hash;
}

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
  // RFC 7617 credentials are UTF-8 text; a NUL would end the password early in crypt().
  if (decoded->find('\0') != std::string::npos || !detail::is_valid_utf8(*decoded)) {
    return std::nullopt;
  }
  return std::make_pair(decoded->substr(0, colon), decoded->substr(colon + 1));
}

BasicAuth::BasicAuth(std::map<std::string, std::string> users, std::size_t max_concurrent_bcrypt)
    : users_(std::move(users)),
      dummy_hash_(make_dummy_hash(users_)),
      bcrypt_slots_(static_cast<std::ptrdiff_t>(std::max<std::size_t>(1, max_concurrent_bcrypt))) {}

std::size_t BasicAuth::default_bcrypt_concurrency() {
  return std::max(1U, std::thread::hardware_concurrency() / 2);
}

AuthDecision BasicAuth::check(const char* authorization_header) {
  if (!enabled()) return AuthDecision::kAllowed;
  if (authorization_header == nullptr) return AuthDecision::kRefused;
  auto credentials = parse_basic_authorization(authorization_header);
  if (!credentials) return AuthDecision::kRefused;
  return verify(credentials->first, credentials->second);
}

AuthDecision BasicAuth::verify(const std::string& user, const std::string& password) {
  auto found = users_.find(user);
  const std::string& hash = found != users_.end() ? found->second : dummy_hash_;
  // The key holds the hash too, so that a reload with a new hash is never answered from cache.
  std::string key = user + '\0' + hash + '\0' + password;
  {
    std::lock_guard lock(cache_mutex_);
    if (verified_.contains(key)) return AuthDecision::kAllowed;
  }
  // Busy is answered alike for known and unknown users, so it tells nothing about either.
  if (!bcrypt_slots_.try_acquire()) return AuthDecision::kBusy;
  struct ReleaseSlot {
    std::counting_semaphore<>& slots;
    ~ReleaseSlot() { slots.release(); }
  } release{bcrypt_slots_};
  const bool matches = bcrypt_matches(password, hash);
  if (!matches || found == users_.end()) return AuthDecision::kRefused;
  std::lock_guard lock(cache_mutex_);
  if (verified_.size() >= kMaxCachedPairs) verified_.clear();
  verified_.insert(std::move(key));
  return AuthDecision::kAllowed;
}

}  // namespace heartbeat_exporter
