#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace heartbeat_exporter {

// A small command-line parser in the style of Prometheus's kingpin flags: `--area.name=value`
// or `--area.name value`, boolean flags without a value, `--help` built in.
class FlagSet {
 public:
  explicit FlagSet(std::string program, std::string summary = {});

  void add_string(std::string name, std::string default_value, std::string help,
                  std::string placeholder = "VALUE");
  void add_bool(std::string name, std::string help);
  // A string flag that may be given more than once (kingpin's Strings()): every occurrence
  // counts, and the default applies only when it is never given.
  void add_repeated_string(std::string name, std::string default_value, std::string help,
                           std::string placeholder = "VALUE");

  // Parses argv[first..argc). Returns an error message for an unknown flag, a missing value or
  // an unexpected positional argument; nullopt on success.
  std::optional<std::string> parse(int argc, const char* const* argv, int first = 1);

  // The last value given (or the default).
  const std::string& get(std::string_view name) const;
  // Every value given, in order, or the default alone; for a repeated flag.
  const std::vector<std::string>& get_all(std::string_view name) const;
  bool is_set(std::string_view name) const;  // given on the command line (or a bool flag given)
  bool help_requested() const { return help_requested_; }

  std::string usage() const;

 private:
  struct Flag {
    std::string name;
    std::string help;
    std::string placeholder;
    std::string value;
    std::string default_value;
    bool is_bool = false;
    bool set = false;
    bool repeated = false;
    std::vector<std::string> values;  // every value given; {default_value} until one is
  };
  Flag* find(std::string_view name);
  const Flag& get_flag(std::string_view name) const;

  std::string program_;
  std::string summary_;
  std::vector<Flag> flags_;
  bool help_requested_ = false;
};

// What a command's main() does: returns run(argc, argv), and 1 after printing
// "<program>: fatal: <what>" for an exception that nothing else caught.
int run_main(const char* program, int (*run)(int, char**), int argc, char** argv);

}  // namespace heartbeat_exporter
