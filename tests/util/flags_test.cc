#include "util/flags.h"

// Shows optional values in failure messages instead of "{?}".
#define CATCH_CONFIG_ENABLE_OPTIONAL_STRINGMAKER

#include <catch2/catch.hpp>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace heartbeat_exporter {
namespace {

FlagSet exporter_flags() {
  FlagSet flags("heartbeat_exporter", "Exports heartbeats as Prometheus metrics.");
  flags.add_string("config.file", "/etc/heartbeat_exporter/config.json", "Configuration file.",
                   "FILE");
  flags.add_string("web.listen-address", ":10180", "Address to listen on.");
  flags.add_string("key", "", "Process key.", "KEY");
  flags.add_bool("version", "Show the version and exit.");
  return flags;
}

// Parses the arguments after a program name.
std::optional<std::string> parse(FlagSet& flags, std::initializer_list<const char*> args) {
  std::vector<const char*> argv = {"heartbeat_exporter"};
  argv.insert(argv.end(), args.begin(), args.end());
  return flags.parse(static_cast<int>(argv.size()), argv.data());
}

TEST_CASE("flags take defaults when not given and are then not set") {
  auto flags = exporter_flags();
  REQUIRE(parse(flags, {}) == std::nullopt);

  CHECK(flags.get("config.file") == "/etc/heartbeat_exporter/config.json");
  CHECK(flags.get("web.listen-address") == ":10180");
  CHECK(flags.get("key") == "");
  CHECK(flags.get("version") == "false");
  for (const char* name : {"config.file", "web.listen-address", "key", "version", "nope"}) {
    INFO(name);
    CHECK_FALSE(flags.is_set(name));
  }
  CHECK_FALSE(flags.help_requested());
}

TEST_CASE("a string flag takes its value as --name=value or as --name value") {
  auto flags = exporter_flags();
  REQUIRE(parse(flags, {"--config.file=/tmp/a.json", "--web.listen-address", "127.0.0.1:0"}) ==
          std::nullopt);

  CHECK(flags.get("config.file") == "/tmp/a.json");
  CHECK(flags.get("web.listen-address") == "127.0.0.1:0");
  CHECK(flags.is_set("config.file"));
  CHECK(flags.is_set("web.listen-address"));
  CHECK_FALSE(flags.is_set("key"));
}

TEST_CASE("an inline value keeps everything after the first =, and may be empty") {
  auto flags = exporter_flags();
  REQUIRE(parse(flags, {"--config.file=a=b", "--web.listen-address="}) == std::nullopt);

  CHECK(flags.get("config.file") == "a=b");
  CHECK(flags.get("web.listen-address") == "");
  CHECK(flags.is_set("web.listen-address"));
}

TEST_CASE("the last occurrence of a flag wins") {
  auto flags = exporter_flags();
  REQUIRE(parse(flags, {"--key=a", "--key", "b"}) == std::nullopt);
  CHECK(flags.get("key") == "b");
}

TEST_CASE("a repeated flag keeps every value in order, and its default only when never given") {
  FlagSet flags("heartbeat_exporter");
  flags.add_repeated_string("web.listen-address", ":10180", "Addresses to listen on.");
  FlagSet defaulted = flags;
  REQUIRE(parse(defaulted, {}) == std::nullopt);
  CHECK(defaulted.get_all("web.listen-address") == std::vector<std::string>{":10180"});

  REQUIRE(parse(flags, {"--web.listen-address=[::1]:1", "--web.listen-address", "127.0.0.1:2"}) ==
          std::nullopt);
  CHECK(flags.get_all("web.listen-address") == std::vector<std::string>{"[::1]:1", "127.0.0.1:2"});
  CHECK(flags.get("web.listen-address") == "127.0.0.1:2");
  CHECK(flags.usage().find("      --web.listen-address=VALUE ...\n") != std::string::npos);
}

TEST_CASE("a flag that is not repeated keeps only its last value in get_all") {
  auto flags = exporter_flags();
  REQUIRE(parse(flags, {"--key=a", "--key=b"}) == std::nullopt);
  CHECK(flags.get_all("key") == std::vector<std::string>{"b"});
}

TEST_CASE("a bool flag is set by --x, --x=true and --x=false, and turned off by --no-x") {
  auto value_after = [](std::initializer_list<const char*> args) {
    auto flags = exporter_flags();
    REQUIRE(parse(flags, args) == std::nullopt);
    CHECK(flags.is_set("version"));
    return flags.get("version");
  };
  CHECK(value_after({"--version"}) == "true");
  CHECK(value_after({"--version=true"}) == "true");
  CHECK(value_after({"--version=false"}) == "false");
  CHECK(value_after({"--no-version"}) == "false");
  CHECK(value_after({"--version", "--no-version"}) == "false");
}

TEST_CASE("a bool flag does not take the next argument as its value") {
  auto flags = exporter_flags();
  CHECK(parse(flags, {"--version", "false"}) == "unexpected argument \"false\"");
  CHECK(flags.get("version") == "true");
}

TEST_CASE("a bool flag refuses a value other than true or false") {
  auto flags = exporter_flags();
  CHECK(parse(flags, {"--version=yes"}) == "flag --version takes true or false, got \"yes\"");
  CHECK(parse(flags, {"--version="}) == "flag --version takes true or false, got \"\"");
}

TEST_CASE("the --no- prefix works only for bool flags and takes no value") {
  auto flags = exporter_flags();
  CHECK(parse(flags, {"--no-key"}) == "unknown flag --no-key");
  CHECK(parse(flags, {"--no-version=true"}) == "unknown flag --no-version");
  CHECK(parse(flags, {"--no-nope"}) == "unknown flag --no-nope");
}

TEST_CASE("an unknown flag is an error that names it without its value") {
  auto flags = exporter_flags();
  CHECK(parse(flags, {"--web.listen-adress=:1"}) == "unknown flag --web.listen-adress");
  CHECK(parse(flags, {"--Config.file", "x"}) == "unknown flag --Config.file");
}

TEST_CASE("a string flag at the end without a value is an error") {
  auto flags = exporter_flags();
  CHECK(parse(flags, {"--config.file"}) == "flag --config.file needs a value");
}

TEST_CASE("a string flag takes the next argument as its value even when it looks like a flag") {
  auto flags = exporter_flags();
  REQUIRE(parse(flags, {"--key", "--version"}) == std::nullopt);
  CHECK(flags.get("key") == "--version");
  CHECK_FALSE(flags.is_set("version"));
}

TEST_CASE("positional arguments and single-dash flags are errors") {
  for (const char* arg : {"extra", "-v", "-", "--", "-config.file=x"}) {
    INFO(arg);
    auto flags = exporter_flags();
    CHECK(parse(flags, {arg}) == "unexpected argument \"" + std::string(arg) + "\"");
  }
}

TEST_CASE("parsing stops at the first error") {
  auto flags = exporter_flags();
  CHECK(parse(flags, {"--key=a", "--bogus", "--version"}) == "unknown flag --bogus");
  CHECK(flags.get("key") == "a");
  CHECK_FALSE(flags.is_set("version"));
}

TEST_CASE("both -h and --help request help without stopping the parse") {
  for (const char* help : {"-h", "--help"}) {
    INFO(help);
    auto flags = exporter_flags();
    REQUIRE(parse(flags, {help, "--key=a"}) == std::nullopt);
    CHECK(flags.help_requested());
    CHECK(flags.get("key") == "a");
  }
}

TEST_CASE("parse starts at the given argument, so that a subcommand can come first") {
  auto flags = exporter_flags();
  const char* argv[] = {"heartbeatctl", "beat", "--key=a"};
  REQUIRE(flags.parse(3, argv, 2) == std::nullopt);
  CHECK(flags.get("key") == "a");
}

TEST_CASE("get of a flag that was never added throws a logic_error naming it") {
  auto flags = exporter_flags();
  CHECK_THROWS_MATCHES(flags.get("nope"), std::logic_error, Catch::Message("no such flag: nope"));
}

TEST_CASE("usage lists every flag with its placeholder, help and non-empty default") {
  CHECK(exporter_flags().usage() ==
        "usage: heartbeat_exporter [<flags>]\n"
        "\n"
        "Exports heartbeats as Prometheus metrics.\n"
        "\n"
        "Flags:\n"
        "  -h, --help  Show this help and exit.\n"
        "      --config.file=FILE\n"
        "          Configuration file. (default: /etc/heartbeat_exporter/config.json)\n"
        "      --web.listen-address=VALUE\n"
        "          Address to listen on. (default: :10180)\n"
        "      --key=KEY\n"
        "          Process key.\n"
        "      --version\n"
        "          Show the version and exit.\n");
}

TEST_CASE("usage without a summary goes straight to the flags") {
  FlagSet flags("tool");
  CHECK(flags.usage() ==
        "usage: tool [<flags>]\n\nFlags:\n  -h, --help  Show this help and exit.\n");
}

}  // namespace
}  // namespace heartbeat_exporter

namespace heartbeat_exporter {
namespace {

TEST_CASE("usage shows each flag's default, not the value given on the command line") {
  FlagSet flags = exporter_flags();
  REQUIRE_FALSE(parse(flags, {"--web.listen-address=:1", "--help"}));
  CHECK(flags.get("web.listen-address") == ":1");
  CHECK(flags.usage().find("(default: :10180)") != std::string::npos);
  CHECK(flags.usage().find("(default: :1)") == std::string::npos);
}

}  // namespace
}  // namespace heartbeat_exporter
