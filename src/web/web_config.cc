#include "web/web_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <exception>
#include <iterator>

#include "util/bounded_file.h"

namespace heartbeat_exporter {
namespace {

constexpr std::size_t kMaxWebConfigBytes = 1024 * 1024;

// Fields of the exporter-toolkit format that this exporter does not implement: refusing them
// beats silently serving without the client-certificate check or header someone configured.
constexpr const char* kUnsupportedTlsFields[] = {"client_auth_type",
                                                 "client_ca_file",
                                                 "cipher_suites",
                                                 "curve_preferences",
                                                 "min_version",
                                                 "max_version",
                                                 "prefer_server_cipher_suites",
                                                 "client_allowed_sans"};

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
    std::optional<std::string> cert, key;
    for (const auto& entry : node) {
      const auto name = entry.first.as<std::string>();
      const std::string path = field + "." + name;
      if (name == "cert_file") {
        if (!(cert = scalar(entry.second, path))) return std::nullopt;
      } else if (name == "key_file") {
        if (!(key = scalar(entry.second, path))) return std::nullopt;
      } else if (std::find(std::begin(kUnsupportedTlsFields), std::end(kUnsupportedTlsFields),
                           name) != std::end(kUnsupportedTlsFields)) {
        fail(path, "not supported by heartbeat_exporter");
        return std::nullopt;
      } else {
        fail(path, "unknown field");
        return std::nullopt;
      }
    }
    if (!cert) {
      fail(field + ".cert_file", "required field is missing");
      return std::nullopt;
    }
    if (!key) {
      fail(field + ".key_file", "required field is missing");
      return std::nullopt;
    }
    return TlsServerConfig{resolve(*cert), resolve(*key)};
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

// Checked at load so that a missing certificate is one line at start, not stunnel's failure dump.
WebConfigResult check_tls_files(WebConfigResult result, const std::filesystem::path& file) {
  if (!result.config || !result.config->tls) return result;
  const auto& tls = *result.config->tls;
  for (const auto& [name, path] :
       {std::pair{"cert_file", tls.cert_file}, {"key_file", tls.key_file}}) {
    auto read = detail::read_bounded_file(path, kMaxWebConfigBytes);
    if (read.status == detail::BoundedFile::Status::kOk) continue;
    std::string why = read.error != 0 ? ": " + detail::error_text(read.error) : "";
    return {std::nullopt, file.string() + ": tls_server_config." + name + ": cannot read \"" +
                              path.string() + "\"" + why};
  }
  return result;
}

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
      return check_tls_files(parse_web_config(read.content, file), file);
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
