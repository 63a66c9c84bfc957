#include "support/test_pki.h"

#include <fstream>
#include <stdexcept>
#include <vector>

#include "support/subprocess.h"

namespace heartbeat_exporter::testing {
namespace {

void openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult result = run(argv);
  if (result.exit_code != 0) {
    throw std::runtime_error("openssl " + args.front() + " failed: " + result.err);
  }
}

}  // namespace

void TestPki::make_ca(const std::string& name) const {
  openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
           "-subj", "/CN=" + name, "-days", "1", "-addext", "basicConstraints=critical,CA:TRUE",
           "-addext", "keyUsage=critical,keyCertSign", "-keyout", key(name).string(), "-out",
           crt(name).string()});
}

void TestPki::make_server(const std::string& name, const std::string& ca, int serial) const {
  sign(name, ca, "rsa:2048",
       "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n", serial);
}

void TestPki::make_client(const std::string& name, const std::string& ca) const {
  sign(name, ca, "ec", "extendedKeyUsage=clientAuth\n", 1);
}

void TestPki::sign(const std::string& name, const std::string& ca, const std::string& new_key,
                   const std::string& extensions, int serial) const {
  const auto csr = dir_ / (name + ".csr");
  const auto ext = dir_ / (name + ".ext");
  std::vector<std::string> request = {"req", "-newkey", new_key};
  if (new_key == "ec") request.insert(request.end(), {"-pkeyopt", "ec_paramgen_curve:P-256"});
  request.insert(request.end(), {"-nodes", "-subj", "/CN=" + name, "-keyout", key(name).string(),
                                 "-out", csr.string()});
  openssl(request);
  std::ofstream(ext) << extensions;
  openssl({"x509", "-req", "-in", csr.string(), "-CA", crt(ca).string(), "-CAkey", key(ca).string(),
           "-set_serial", std::to_string(serial), "-days", "1", "-extfile", ext.string(), "-out",
           crt(name).string()});
}

}  // namespace heartbeat_exporter::testing
