#include "web/web_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <exception>
#include <iterator>
#include <string_view>
#include <utility>

#include "util/bounded_file.h"

namespace heartbeat_exporter {
namespace {

constexpr std::size_t kMaxWebConfigBytes = 1024 * 1024;

// Fields of the exporter-toolkit format that this exporter does not implement: refusing them
// beats silently serving without the check or header someone configured.
constexpr const char* kUnsupportedTlsFields[] = {"cert", "key", "client_ca", "client_allowed_sans"};

struct Named {
  std::string_view go;
  std::string_view openssl;  // empty: accepted, changes nothing (a TLS 1.3 suite)
};

// Go's tls.CipherSuites(), the only names exporter-toolkit takes; Go's insecure suites (RSA key
// exchange, RC4, 3DES, CBC with SHA-256) are unknown names there and here.
constexpr Named kCipherSuites[] = {
    {"TLS_AES_128_GCM_SHA256", ""},
    {"TLS_AES_256_GCM_SHA384", ""},
    {"TLS_CHACHA20_POLY1305_SHA256", ""},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
};

constexpr Named kCurves[] = {
    {"CurveP256", "P-256"}, {"CurveP384", "P-384"}, {"CurveP521", "P-521"}, {"X25519", "X25519"}};

constexpr std::pair<std::string_view, TlsVersion> kVersions[] = {{"TLS10", TlsVersion::kTls10},
                                                                 {"TLS11", TlsVersion::kTls11},
                                                                 {"TLS12", TlsVersion::kTls12},
                                                                 {"TLS13", TlsVersion::kTls13}};

// "RequireClientCert" is exporter-toolkit's old name for RequireAnyClientCert, still taken.
constexpr std::pair<std::string_view, ClientAuth> kClientAuths[] = {
    {"NoClientCert", ClientAuth::kNoClientCert},
    {"RequestClientCert", ClientAuth::kRequestClientCert},
    {"RequireAnyClientCert", ClientAuth::kRequireAnyClientCert},
    {"RequireClientCert", ClientAuth::kRequireAnyClientCert},
    {"VerifyClientCertIfGiven", ClientAuth::kVerifyClientCertIfGiven},
    {"RequireAndVerifyClientCert", ClientAuth::kRequireAndVerifyClientCert}};

std::string_view version_name(TlsVersion version) {
  for (const auto& [name, value] : kVersions) {
    if (value == version) return name;
  }
  return "?";
}

bool is_cbc(const std::string& openssl_suite) {
  return openssl_suite.find("GCM") == std::string::npos &&
         openssl_suite.find("CHACHA20") == std::string::npos;
}

}  // namespace

const std::vector<std::string> kDefaultTls12CipherSuites = {
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"};
const std::vector<std::string> kDefaultTlsGroups = {"X25519", "P-256", "P-384", "P-521"};

namespace {

class Parser {
 public:
  explicit Parser(const std::filesystem::path& file) : file_(file) {}

  WebConfigResult parse(const std::string& text) {
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      return {std::nullopt, file_.string() + ": invalid YAML: " + e.what()};
    }
    WebConfig config;
    if (root.IsNull()) return {config, {}};
    if (!root.IsMap()) return fail("", "the top level must be a mapping");
    for (const auto& entry : root) {
      const auto name = entry.first.as<std::string>();
      if (name == "tls_server_config") {
        auto tls = parse_tls(entry.second);
        if (!tls) return {std::nullopt, error_};
        config.tls = *tls;
      } else if (name == "basic_auth_users") {
        auto users = parse_users(entry.second);
        if (!users) return {std::nullopt, error_};
        config.basic_auth_users = std::move(*users);
      } else if (name == "http_server_config") {
        return fail(name, "not supported by heartbeat_exporter");
      } else {
        return fail(name, "unknown field");
      }
    }
    return {config, {}};
  }

 private:
  WebConfigResult fail(const std::string& field, const std::string& what) {
    error_ = file_.string() + ": " + (field.empty() ? "" : field + ": ") + what;
    return {std::nullopt, error_};
  }

  std::optional<std::string> scalar(const YAML::Node& node, const std::string& field) {
    if (!node.IsScalar() || node.as<std::string>().empty()) {
      fail(field, "expected a non-empty string");
      return std::nullopt;
    }
    return node.as<std::string>();
  }

  std::optional<TlsServerConfig> parse_tls(const YAML::Node& node) {
    const std::string field = "tls_server_config";
    if (node.IsNull()) {
      fail(field, "expected a mapping with cert_file and key_file");
      return std::nullopt;
    }
    if (!node.IsMap()) {
      fail(field, "expected a mapping");
      return std::nullopt;
    }
    TlsServerConfig tls;
    std::optional<std::string> cert, key, client_ca;
    std::optional<TlsVersion> min_version;
    for (const auto& entry : node) {
      const auto name = entry.first.as<std::string>();
      const std::string path = field + "." + name;
      const YAML::Node& value = entry.second;
      bool ok = true;
      if (name == "cert_file") {
        ok = (cert = scalar(value, path)).has_value();
      } else if (name == "key_file") {
        ok = (key = scalar(value, path)).has_value();
      } else if (name == "client_ca_file") {
        ok = (client_ca = scalar(value, path)).has_value();
      } else if (name == "client_auth_type") {
        // As in exporter-toolkit, an empty value is NoClientCert.
        const bool empty = value.IsNull() || (value.IsScalar() && value.Scalar().empty());
        ok = empty || lookup(value, path, kClientAuths, tls.client_auth);
      } else if (name == "min_version") {
        ok = lookup(value, path, kVersions, tls.min_version);
        min_version = tls.min_version;
      } else if (name == "max_version") {
        ok = lookup(value, path, kVersions, tls.max_version);
      } else if (name == "cipher_suites") {
        ok = names(value, path, kCipherSuites, tls.cipher_suites, kDefaultTls12CipherSuites);
      } else if (name == "curve_preferences") {
        ok = names(value, path, kCurves, tls.groups, kDefaultTlsGroups);
      } else if (name == "prefer_server_cipher_suites") {
        ok = boolean(value, path, tls.prefer_server_cipher_suites);
      } else if (std::find(std::begin(kUnsupportedTlsFields), std::end(kUnsupportedTlsFields),
                           name) != std::end(kUnsupportedTlsFields)) {
        ok = fail_field(path, "not supported by heartbeat_exporter");
      } else {
        ok = fail_field(path, "unknown field");
      }
      if (!ok) return std::nullopt;
    }
    if (!cert) return fail_tls(field + ".cert_file", "required field is missing");
    if (!key) return fail_tls(field + ".key_file", "required field is missing");
    tls.cert_file = resolve(*cert);
    tls.key_file = resolve(*key);
    if (client_ca) tls.client_ca_file = resolve(*client_ca);
    return check_tls(std::move(tls));
  }

  // The combinations that no connection could be served with, refused now rather than found
  // out by the first client.
  std::optional<TlsServerConfig> check_tls(TlsServerConfig tls) {
    const std::string field = "tls_server_config";
    if (tls.max_version < tls.min_version) {
      return fail_tls(field + ".max_version", std::string(version_name(tls.max_version)) +
                                                  " is below min_version " +
                                                  std::string(version_name(tls.min_version)));
    }
    if (!tls.client_ca_file.empty() && tls.client_auth == ClientAuth::kNoClientCert) {
      return fail_tls(field + ".client_ca_file",
                      "set while client_auth_type is NoClientCert, which asks for no client "
                      "certificate");
    }
    if (tls.min_version < TlsVersion::kTls13 && tls.cipher_suites.empty()) {
      return fail_tls(field + ".cipher_suites",
                      "only TLS 1.3 suites, which cannot be chosen, while min_version allows " +
                          std::string(version_name(tls.min_version)));
    }
    // The AEAD suites exist from TLS 1.2 on.
    if (tls.min_version < TlsVersion::kTls12 &&
        std::none_of(tls.cipher_suites.begin(), tls.cipher_suites.end(), is_cbc)) {
      return fail_tls(field + ".min_version", std::string(version_name(tls.min_version)) +
                                                  " needs a CBC suite in cipher_suites; the "
                                                  "others need TLS 1.2");
    }
    return tls;
  }

  template <typename Table, typename Value>
  bool lookup(const YAML::Node& node, const std::string& field, const Table& table, Value& out) {
    auto text = scalar(node, field);
    if (!text) return false;
    for (const auto& [name, value] : table) {
      if (name == *text) {
        out = value;
        return true;
      }
    }
    std::string known;
    for (const auto& entry : table)
      known += std::string(known.empty() ? "" : ", ") + entry.first.data();
    return fail_field(field, "unknown value \"" + *text + "\"; want one of " + known);
  }

  // A list of Go names, mapped to OpenSSL's; an empty list keeps the defaults, as in Go.
  template <std::size_t N>
  bool names(const YAML::Node& node, const std::string& field, const Named (&table)[N],
             std::vector<std::string>& out, const std::vector<std::string>& defaults) {
    if (node.IsNull()) {
      out = defaults;
      return true;
    }
    if (!node.IsSequence()) return fail_field(field, "expected a list of names");
    std::vector<std::string> mapped;
    for (std::size_t i = 0; i < node.size(); ++i) {
      auto name = scalar(node[i], field);
      if (!name) return false;
      auto known = std::find_if(std::begin(table), std::end(table),
                                [&](const Named& entry) { return entry.go == *name; });
      if (known == std::end(table)) return fail_field(field, "unknown name \"" + *name + "\"");
      if (!known->openssl.empty()) mapped.emplace_back(known->openssl);
    }
    out = node.size() == 0 ? defaults : std::move(mapped);
    return true;
  }

  // YAML 1.1 booleans (true, yes, on, ...), as Go's yaml.v2 reads them.
  bool boolean(const YAML::Node& node, const std::string& field, bool& out) {
    if (node.IsScalar() && YAML::convert<bool>::decode(node, out)) return true;
    return fail_field(field, "expected true or false");
  }

  bool fail_field(const std::string& field, const std::string& what) {
    fail(field, what);
    return false;
  }

  std::optional<TlsServerConfig> fail_tls(const std::string& field, const std::string& what) {
    fail(field, what);
    return std::nullopt;
  }

  std::optional<std::map<std::string, std::string>> parse_users(const YAML::Node& node) {
    const std::string field = "basic_auth_users";
    std::map<std::string, std::string> users;
    if (node.IsNull()) return users;
    if (!node.IsMap()) {
      fail(field, "expected a mapping of user names to bcrypt hashes");
      return std::nullopt;
    }
    for (const auto& entry : node) {
      const auto user = entry.first.as<std::string>();
      const std::string path = field + "." + user;
      auto hash = scalar(entry.second, path);
      if (!hash) return std::nullopt;
      // crypt_r would also take MD5 or DES hashes; the format promises bcrypt only.
      if (hash->rfind("$2a$", 0) != 0 && hash->rfind("$2b$", 0) != 0 &&
          hash->rfind("$2y$", 0) != 0) {
        fail(path, "expected a bcrypt hash ($2a$, $2b$ or $2y$)");
        return std::nullopt;
      }
      if (user.empty() || user.find(':') != std::string::npos) {
        fail(path, "a user name may not be empty or contain ':'");
        return std::nullopt;
      }
      if (!users.emplace(user, *hash).second) {
        fail(path, "duplicate user");
        return std::nullopt;
      }
    }
    return users;
  }

  std::filesystem::path resolve(const std::string& path) const {
    std::filesystem::path p(path);
    if (p.is_absolute()) return p.lexically_normal();
    return (std::filesystem::absolute(file_).parent_path() / p).lexically_normal();
  }

  std::filesystem::path file_;
  std::string error_;
};

}  // namespace

WebConfigResult parse_web_config(const std::string& yaml, const std::filesystem::path& file) {
  try {
    return Parser(file).parse(yaml);
  } catch (const std::exception& e) {
    return {std::nullopt, file.string() + ": invalid web config: " + e.what()};
  }
}

WebConfigResult load_web_config(const std::filesystem::path& file) {
  using Status = detail::BoundedFile::Status;
  auto read = detail::read_bounded_file(file, kMaxWebConfigBytes);
  switch (read.status) {
    case Status::kOk:
      return parse_web_config(read.content, file);
    case Status::kNotRegularFile:
      return {std::nullopt, file.string() + ": not a regular file"};
    case Status::kTooLarge:
      return {std::nullopt, file.string() + ": file is larger than 1 MiB"};
    default:
      return {std::nullopt,
              file.string() + ": cannot read web config file: " + detail::error_text(read.error)};
  }
}

}  // namespace heartbeat_exporter
