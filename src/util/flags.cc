#include "util/flags.h"

#include <cstdio>
#include <exception>
#include <stdexcept>

namespace heartbeat_exporter {

FlagSet::FlagSet(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

void FlagSet::add_string(std::string name, std::string default_value, std::string help,
                         std::string placeholder) {
  flags_.push_back({std::move(name),
                    std::move(help),
                    std::move(placeholder),
                    default_value,
                    default_value,
                    false,
                    false,
                    false,
                    {default_value}});
}

void FlagSet::add_repeated_string(std::string name, std::string default_value, std::string help,
                                  std::string placeholder) {
  add_string(std::move(name), std::move(default_value), std::move(help), std::move(placeholder));
  flags_.back().repeated = true;
}

void FlagSet::add_bool(std::string name, std::string help) {
  flags_.push_back(
      {std::move(name), std::move(help), "", "false", "false", true, false, false, {"false"}});
}

FlagSet::Flag* FlagSet::find(std::string_view name) {
  for (auto& flag : flags_) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

std::optional<std::string> FlagSet::parse(int argc, const char* const* argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      help_requested_ = true;
      continue;
    }
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      return "unexpected argument \"" + std::string(arg) + "\"";
    }
    std::string_view body = arg.substr(2);
    std::optional<std::string_view> inline_value;
    if (auto eq = body.find('='); eq != std::string_view::npos) {
      inline_value = body.substr(eq + 1);
      body = body.substr(0, eq);
    }
    Flag* flag = find(body);
    // Like kingpin, a boolean flag can be turned off with --no-<name>.
    if (flag == nullptr && body.substr(0, 3) == "no-" && !inline_value) {
      Flag* negated = find(body.substr(3));
      if (negated != nullptr && negated->is_bool) {
        negated->value = "false";
        negated->set = true;
        continue;
      }
    }
    if (flag == nullptr) return "unknown flag --" + std::string(body);
    if (flag->is_bool) {
      if (inline_value && *inline_value != "true" && *inline_value != "false") {
        return "flag --" + flag->name + " takes true or false, got \"" +
               std::string(*inline_value) + "\"";
      }
      flag->value = inline_value ? std::string(*inline_value) : "true";
    } else if (inline_value) {
      flag->value = std::string(*inline_value);
    } else {
      if (i + 1 >= argc) return "flag --" + flag->name + " needs a value";
      flag->value = argv[++i];
    }
    if (!flag->set || !flag->repeated) flag->values.clear();
    flag->values.push_back(flag->value);
    flag->set = true;
  }
  return std::nullopt;
}

const FlagSet::Flag& FlagSet::get_flag(std::string_view name) const {
  for (const auto& flag : flags_) {
    if (flag.name == name) return flag;
  }
  throw std::logic_error("no such flag: " + std::string(name));
}

const std::string& FlagSet::get(std::string_view name) const { return get_flag(name).value; }

const std::vector<std::string>& FlagSet::get_all(std::string_view name) const {
  return get_flag(name).values;
}

bool FlagSet::is_set(std::string_view name) const {
  for (const auto& flag : flags_) {
    if (flag.name == name) return flag.set;
  }
  return false;
}

std::string FlagSet::usage() const {
  std::string out = "usage: " + program_ + " [<flags>]\n";
  if (!summary_.empty()) out += "\n" + summary_ + "\n";
  out += "\nFlags:\n  -h, --help  Show this help and exit.\n";
  for (const auto& flag : flags_) {
    std::string left = "      --" + flag.name;
    if (!flag.is_bool) left += "=" + flag.placeholder;
    if (flag.repeated) left += " ...";
    out += left + "\n          " + flag.help;
    if (!flag.is_bool && !flag.default_value.empty()) {
      out += " (default: " + flag.default_value + ")";
    }
    out += "\n";
  }
  return out;
}

int run_main(const char* program, int (*run)(int, char**), int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: fatal: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace heartbeat_exporter
