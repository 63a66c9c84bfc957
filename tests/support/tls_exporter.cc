#include "support/tls_exporter.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

namespace heartbeat_exporter::testing {
namespace {

std::vector<std::string> with_web_config(const TlsFixture& fixture,
                                         std::vector<std::string> flags) {
  flags.push_back("--web.config.file=" + fixture.web_config.string());
  return flags;
}

}  // namespace

TlsFixture::TlsFixture(const std::string& tls_extra, const std::string& users) {
  pki.make_ca("ca");
  pki.make_server("server", "ca", 1);
  write_web_config(tls_extra, users);
}

void TlsFixture::write_web_config(const std::string& tls_extra, const std::string& users) {
  web_config = dir.write("web.yml",
                         "tls_server_config:\n  cert_file: server.crt\n"
                         "  key_file: server.key\n" +
                             tls_extra + users);
}

TlsExporter::TlsExporter(const TlsFixture& fixture, std::vector<std::string> flags)
    : exporter_(fixture.config, fixture.dir.path(), with_web_config(fixture, std::move(flags))) {}

std::string TlsExporter::url(const std::string& path) const {
  return "https://localhost:" + std::to_string(port()) + path;
}

RunResult curl(std::vector<std::string> args) {
  args.insert(args.begin(), {"curl", "--silent", "--show-error", "--max-time", "10"});
  return run(args);
}

int connect_to(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace heartbeat_exporter::testing
