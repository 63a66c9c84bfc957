#include "web/tls_context.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <utility>

#include "util/log.h"

namespace heartbeat_exporter {
namespace detail {

struct TlsSnapshot {
  TlsServerConfig config;
  SSL_CTX* ctx = nullptr;
  // What SSL_set_SSL_CTX does not copy onto a connection and SSL_CTX cannot give back as text.
  std::string cipher_list;
  std::string groups_list;
  // cert_file, key_file, client_ca_file (a default stamp when not set), as read.
  std::vector<FileStamp> stamps;
  std::string serial;

  TlsSnapshot() = default;
  TlsSnapshot(const TlsSnapshot&) = delete;
  TlsSnapshot& operator=(const TlsSnapshot&) = delete;
  ~TlsSnapshot() { SSL_CTX_free(ctx); }
};

}  // namespace detail

namespace {

using detail::FileStamp;
using detail::TlsSnapshot;

// Certificates, keys and CA bundles are small; this bounds what a wrong path makes us read.
constexpr std::size_t kMaxPemBytes = 1024 * 1024;

int to_openssl(TlsVersion version) {
  switch (version) {
    case TlsVersion::kTls10:
      return TLS1_VERSION;
    case TlsVersion::kTls11:
      return TLS1_1_VERSION;
    case TlsVersion::kTls12:
      return TLS1_2_VERSION;
    case TlsVersion::kTls13:
      return TLS1_3_VERSION;
  }
  return TLS1_3_VERSION;
}

// OpenSSL's first queued error, and the queue emptied so that it cannot be mistaken for a later
// call's error (civetweb reads the queue after SSL_accept).
std::string openssl_error() {
  char text[256] = "unknown OpenSSL error";
  if (unsigned long code = ERR_peek_error(); code != 0) ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return text;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ":") + name;
  return out;
}

// RequestClientCert and RequireAnyClientCert take whatever certificate the client sends.
int accept_any_certificate(int, X509_STORE_CTX*) { return 1; }

struct Built {
  std::shared_ptr<const TlsSnapshot> snapshot;
  std::string error;
};

class Builder {
 public:
  explicit Builder(const TlsServerConfig& config) : config_(config) {}

  Built build() {
    auto snapshot = std::make_shared<TlsSnapshot>();
    snapshot->config = config_;
    snapshot->ctx = SSL_CTX_new(TLS_server_method());
    if (snapshot->ctx == nullptr) return fail("tls_server_config", openssl_error());
    SSL_CTX* ctx = snapshot->ctx;
    auto cert = read("cert_file", config_.cert_file);
    if (!cert) return {nullptr, error_};
    auto key = read("key_file", config_.key_file);
    if (!key) return {nullptr, error_};
    std::optional<Pem> ca;
    if (!config_.client_ca_file.empty() && !(ca = read("client_ca_file", config_.client_ca_file))) {
      return {nullptr, error_};
    }
    snapshot->stamps = {cert->stamp, key->stamp, ca ? ca->stamp : FileStamp{}};
    if (!use_certificate_chain(ctx, cert->text, *snapshot)) return {nullptr, error_};
    if (!use_key(ctx, key->text)) return {nullptr, error_};
    if (!set_protocol(ctx, *snapshot)) return {nullptr, error_};
    if (!set_client_auth(ctx, ca ? &ca->text : nullptr)) return {nullptr, error_};
    // No session cache and no tickets: a resumed session would skip the client certificate
    // check of settings loaded since, and scrapes keep their connection open anyway.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    static constexpr unsigned char kSessionContext[] = "heartbeat_exporter";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
    ERR_clear_error();
    return {std::move(snapshot), {}};
  }

 private:
  struct Pem {
    std::string text;
    FileStamp stamp;
  };

  Built fail(const std::string& field, const std::string& what) {
    ERR_clear_error();
    error_ = field + ": " + what;
    return {nullptr, error_};
  }

  bool fail_field(const std::string& field, const std::string& what) {
    fail("tls_server_config." + field, what);
    return false;
  }

  std::optional<Pem> read(const std::string& field, const std::filesystem::path& path) {
    using Status = detail::BoundedFile::Status;
    auto file = detail::read_bounded_file(path, kMaxPemBytes);
    std::string quoted = "\"" + path.string() + "\"";
    switch (file.status) {
      case Status::kOk:
        return Pem{std::move(file.content), file.stamp};
      case Status::kNotRegularFile:
        fail_field(field, quoted + " is not a regular file");
        return std::nullopt;
      case Status::kTooLarge:
        fail_field(field, quoted + " is larger than 1 MiB");
        return std::nullopt;
      default:
        fail_field(field, "cannot read " + quoted + ": " + detail::error_text(file.error));
        return std::nullopt;
    }
  }

  // The first certificate is the server's; any after it are its chain, as in Go.
  bool use_certificate_chain(SSL_CTX* ctx, const std::string& pem, TlsSnapshot& snapshot) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* leaf = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    bool ok = leaf != nullptr && SSL_CTX_use_certificate(ctx, leaf) == 1;
    if (ok) {
      if (BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), nullptr)) {
        if (char* hex = BN_bn2hex(serial)) {
          snapshot.serial = hex;
          OPENSSL_free(hex);
        }
        BN_free(serial);
      }
      while (X509* chain = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
        if (SSL_CTX_add0_chain_cert(ctx, chain) != 1) {
          X509_free(chain);
          ok = false;
          break;
        }
      }
    }
    X509_free(leaf);
    BIO_free(bio);
    if (!ok) {
      return fail_field("cert_file", "no usable PEM certificate in \"" +
                                         config_.cert_file.string() + "\": " + openssl_error());
    }
    ERR_clear_error();  // the end of the chain
    return true;
  }

  bool use_key(SSL_CTX* ctx, const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (key == nullptr) {
      return fail_field("key_file", "no PEM private key in \"" + config_.key_file.string() +
                                        "\" (an encrypted key needs a passphrase, which is not "
                                        "supported): " +
                                        openssl_error());
    }
    const bool matches = SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx);
    EVP_PKEY_free(key);
    if (!matches) return fail_field("key_file", "does not match cert_file: " + openssl_error());
    return true;
  }

  bool set_protocol(SSL_CTX* ctx, TlsSnapshot& snapshot) {
    SSL_CTX_set_min_proto_version(ctx, to_openssl(config_.min_version));
    SSL_CTX_set_max_proto_version(ctx, to_openssl(config_.max_version));
    // OpenSSL 3 allows TLS 1.0 and 1.1 only at security level 0.
    if (config_.min_version < TlsVersion::kTls12) SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
    if (config_.prefer_server_cipher_suites) {
      SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    } else {
      SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    }
    // With min_version TLS13 the list may hold no suite below TLS 1.3; none is used then.
    snapshot.cipher_list =
        join(config_.cipher_suites.empty() ? kDefaultTls12CipherSuites : config_.cipher_suites);
    if (SSL_CTX_set_cipher_list(ctx, snapshot.cipher_list.c_str()) != 1) {
      return fail_field("cipher_suites",
                        "OpenSSL takes none of " + snapshot.cipher_list + ": " + openssl_error());
    }
    snapshot.groups_list = join(config_.groups);
    if (SSL_CTX_set1_groups_list(ctx, snapshot.groups_list.c_str()) != 1) {
      return fail_field("curve_preferences",
                        "OpenSSL refuses " + snapshot.groups_list + ": " + openssl_error());
    }
    return true;
  }

  bool set_client_auth(SSL_CTX* ctx, const std::string* ca_pem) {
    int mode = SSL_VERIFY_PEER;
    SSL_verify_cb callback = nullptr;
    switch (config_.client_auth) {
      case ClientAuth::kNoClientCert:
        mode = SSL_VERIFY_NONE;
        break;
      case ClientAuth::kRequestClientCert:
        callback = accept_any_certificate;
        break;
      case ClientAuth::kRequireAnyClientCert:
        mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        callback = accept_any_certificate;
        break;
      case ClientAuth::kVerifyClientCertIfGiven:
        break;
      case ClientAuth::kRequireAndVerifyClientCert:
        mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        break;
    }
    SSL_CTX_set_verify(ctx, mode, callback);
    if (ca_pem != nullptr) return load_client_cas(ctx, *ca_pem);
    // As Go verifies against the system's roots when no client CAs are given.
    if (mode != SSL_VERIFY_NONE && callback == nullptr &&
        SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return fail_field(
          "client_ca_file",
          "not set, and the system's CA certificates do not load: " + openssl_error());
    }
    return true;
  }

  // Trusted for verification, and named to the client in the certificate request.
  bool load_client_cas(SSL_CTX* ctx, const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    int count = 0;
    bool ok = true;
    while (X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      // OpenSSL decodes a certificate's extensions on first use and caches them in the shared
      // X509. Doing that here, on the one thread that builds the snapshot, leaves concurrent
      // handshakes only reading them (X509_check_purpose with -1 checks no purpose).
      X509_check_purpose(ca, -1, 0);
      ok = X509_STORE_add_cert(store, ca) == 1 && SSL_CTX_add_client_CA(ctx, ca) == 1;
      X509_free(ca);
      if (!ok) break;
      ++count;
    }
    BIO_free(bio);
    if (!ok || count == 0) {
      return fail_field("client_ca_file", "no usable PEM certificate in \"" +
                                              config_.client_ca_file.string() +
                                              "\": " + openssl_error());
    }
    ERR_clear_error();
    return true;
  }

  const TlsServerConfig& config_;
  std::string error_;
};

// What a connection keeps from the SSL_CTX it was created on even after SSL_set_SSL_CTX, which
// swaps only the certificate, key and session ID context.
bool apply(SSL* ssl, const TlsSnapshot& snapshot) {
  SSL_CTX* ctx = snapshot.ctx;
  if (SSL_set_SSL_CTX(ssl, ctx) != ctx) return false;
  SSL_clear_options(ssl, SSL_get_options(ssl));
  SSL_set_options(ssl, SSL_CTX_get_options(ctx));
  SSL_set_security_level(ssl, SSL_CTX_get_security_level(ctx));
  bool ok = SSL_set_min_proto_version(ssl, SSL_CTX_get_min_proto_version(ctx)) == 1 &&
            SSL_set_max_proto_version(ssl, SSL_CTX_get_max_proto_version(ctx)) == 1 &&
            SSL_set_cipher_list(ssl, snapshot.cipher_list.c_str()) == 1 &&
            SSL_set1_groups_list(ssl, snapshot.groups_list.c_str()) == 1 &&
            SSL_set_num_tickets(ssl, 0) == 1;
  SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
  SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(ctx));
  if (STACK_OF(X509_NAME)* names = SSL_CTX_get_client_CA_list(ctx)) {
    SSL_set_client_CA_list(ssl, SSL_dup_CA_list(names));
  }
  ERR_clear_error();
  return ok;
}

// Stamps as Builder records them, for the same three files; a file that cannot be stat'ed gets
// a default stamp, which differs from any file's.
std::vector<FileStamp> stat_files(const TlsServerConfig& config) {
  std::vector<FileStamp> stamps;
  for (const auto* path : {&config.cert_file, &config.key_file, &config.client_ca_file}) {
    struct stat info {};
    stamps.push_back(!path->empty() && ::stat(path->c_str(), &info) == 0 ? detail::to_stamp(info)
                                                                         : FileStamp{});
  }
  return stamps;
}

std::int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TlsContext::Result TlsContext::create(const TlsServerConfig& config,
                                      std::chrono::milliseconds file_check_interval) {
  Built built = Builder(config).build();
  if (!built.snapshot) return {nullptr, built.error};
  return {
      std::unique_ptr<TlsContext>(new TlsContext(std::move(built.snapshot), file_check_interval)),
      {}};
}

TlsContext::TlsContext(std::shared_ptr<const detail::TlsSnapshot> snapshot,
                       std::chrono::milliseconds file_check_interval)
    : file_check_interval_(file_check_interval),
      next_file_check_ns_(steady_now_ns() + std::chrono::nanoseconds(file_check_interval).count()),
      snapshot_(std::move(snapshot)) {}

TlsContext::~TlsContext() = default;

std::optional<std::string> TlsContext::update(const TlsServerConfig& config) {
  Built built = Builder(config).build();
  if (!built.snapshot) return built.error;
  std::lock_guard files_lock(files_mutex_);
  {
    std::lock_guard lock(snapshot_mutex_);
    snapshot_ = std::move(built.snapshot);
  }
  failed_stamps_.reset();
  return std::nullopt;
}

void TlsContext::attach(SSL_CTX* server_ctx) {
  server_ctx_ = server_ctx;
  SSL_CTX_set_client_hello_cb(server_ctx, &TlsContext::on_client_hello, this);
  // civetweb's SNI callback would move the connection back to this SSL_CTX, which holds no
  // certificate; the exporter serves one certificate whatever name the client asks for.
  SSL_CTX_set_tlsext_servername_callback(server_ctx, nullptr);
  SSL_CTX_set_session_cache_mode(server_ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(server_ctx, 0);
  SSL_CTX_set_options(server_ctx, SSL_OP_NO_TICKET);
}

std::string TlsContext::certificate_serial() const { return current()->serial; }

std::shared_ptr<const detail::TlsSnapshot> TlsContext::current() const {
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

int TlsContext::on_client_hello(SSL* ssl, int* alert, void* arg) {
  auto* self = static_cast<TlsContext*>(arg);
  // A second ClientHello (after a HelloRetryRequest) keeps the settings of the first.
  if (SSL_get_SSL_CTX(ssl) != self->server_ctx_) return SSL_CLIENT_HELLO_SUCCESS;
  self->reload_changed_files();
  if (!apply(ssl, *self->current())) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

void TlsContext::reload_changed_files() {
  const std::int64_t now = steady_now_ns();
  if (now < next_file_check_ns_.load(std::memory_order_relaxed)) return;
  std::unique_lock files_lock(files_mutex_, std::try_to_lock);
  if (!files_lock || now < next_file_check_ns_.load(std::memory_order_relaxed)) return;
  next_file_check_ns_.store(now + std::chrono::nanoseconds(file_check_interval_).count(),
                            std::memory_order_relaxed);
  auto old = current();
  auto stamps = stat_files(old->config);
  if (stamps == old->stamps || stamps == failed_stamps_) return;
  Built built = Builder(old->config).build();
  if (!built.snapshot) {
    failed_stamps_ = stamps;
    log::error("changed TLS files do not load; new connections keep the previous certificate",
               {{"err", built.error}});
    return;
  }
  {
    // update() holds files_mutex_ too, so snapshot_ is still `old` here.
    std::lock_guard lock(snapshot_mutex_);
    snapshot_ = built.snapshot;
  }
  failed_stamps_.reset();
  log::info("TLS certificate reloaded",
            {{"cert_file", old->config.cert_file.string()}, {"serial", built.snapshot->serial}});
}

}  // namespace heartbeat_exporter
