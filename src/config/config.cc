#include "config/config.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <set>
#include <system_error>
#include <utility>

#include "util/bounded_file.h"
#include "util/json.h"
#include "util/text.h"
#include "util/utf8.h"

namespace heartbeat_exporter {
namespace {

namespace fs = std::filesystem;

// A config is a few kilobytes; the bound keeps a wrong --config.file (a disk image, a log) from
// costing the exporter its memory.
constexpr std::size_t kMaxConfigBytes = 16 * 1024 * 1024;

using detail::string_of;
using rapidjson::Value;

std::string_view type_name(const Value& value) {
  switch (value.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return "boolean";
    case rapidjson::kObjectType:
      return "object";
    case rapidjson::kArrayType:
      return "array";
    case rapidjson::kStringType:
      return "string";
    case rapidjson::kNumberType:
      return "number";
  }
  return "unknown";
}

std::string expected(std::string_view what, const Value& value) {
  return "expected " + std::string(what) + ", got " + std::string(type_name(value));
}

// Keys are user text; escaping control characters keeps every error message on one line.
std::string printable(std::string_view text) {
  return detail::escape_bytes(text, detail::EscapedBytes::kControl);
}

std::string join(const std::string& parent, std::string_view name) {
  return parent + "." + printable(name);
}

// RapidJSON keeps every member of an object, so a repeated name has to be caught by hand or one
// of the two values would silently win.
class MemberNames {
 public:
  bool first_time(std::string_view name) { return seen_.insert(name).second; }

 private:
  std::set<std::string_view> seen_;
};

// What processes.<key> and heartbeat_dirs[i] have in common, before fallbacks are resolved.
struct Entry {
  std::optional<fs::path> path;
  std::optional<double> timeout_seconds;
  bool check_pid = true;
  Labels labels;
  std::shared_ptr<const Schedule> schedule;
  double grace_seconds = kDefaultGraceSeconds;
  // heartbeat_dirs[i] only:
  bool follow_symlinks = false;
  std::size_t max_files = kDefaultMaxFiles;
};

// Which of Entry's fields an entry may set.
enum class EntryKind { kProcess, kFolder };

class Parser {
 public:
  explicit Parser(const fs::path& file) : path_(file), file_(file.string()) {
    std::error_code ec;
    fs::path absolute = file.is_absolute() ? file : fs::absolute(file, ec);
    if (ec) {
      base_error_ = ec.message();
    } else {
      base_ = absolute.parent_path();
    }
  }

  ConfigResult parse(std::string_view json) {
    rapidjson::Document document;
    if (const auto error = detail::parse_json(document, json)) {
      return {std::nullopt, file_ + ": invalid JSON at offset " + std::to_string(error->offset) +
                                ": " + std::string(error->message)};
    }
    if (!document.IsObject()) return {std::nullopt, file_ + ": the top level must be an object"};
    auto config = parse_top_level(document);
    if (!config) return {std::nullopt, std::move(error_)};
    return {std::move(config), {}};
  }

 private:
  // Records the first error; always returns nullopt so callers can `return fail(...)`.
  std::nullopt_t fail(const std::string& field, std::string_view what) {
    error_ = file_ + ": " + field + ": " + std::string(what);
    return std::nullopt;
  }

  std::optional<Config> parse_top_level(const Value& document) {
    Config config;
    std::optional<double> default_timeout;
    std::vector<std::pair<std::string, Entry>> processes;
    std::vector<Entry> dirs;
    MemberNames names;
    for (const auto& member : document.GetObject()) {
      auto name = string_of(member.name);
      auto field = printable(name);
      if (!names.first_time(name)) return fail(field, "duplicate field");
      if (name == "default_timeout_seconds") {
        default_timeout = parse_timeout(member.value, field);
        if (!default_timeout) return std::nullopt;
      } else if (name == "processes") {
        auto parsed = parse_processes(member.value, field);
        if (!parsed) return std::nullopt;
        processes = std::move(*parsed);
      } else if (name == "heartbeat_dirs") {
        auto parsed = parse_dirs(member.value, field);
        if (!parsed) return std::nullopt;
        dirs = std::move(*parsed);
      } else {
        return fail(field, "unknown field");
      }
    }

    // The default may come after the processes that fall back to it, so fallbacks wait until
    // the whole document has been read.
    config.default_timeout_seconds = default_timeout.value_or(kDefaultTimeoutSeconds);
    for (auto& [key, entry] : processes) {
      config.processes.push_back(ProcessConfig{
          .key = std::move(key),
          .heartbeat_path = std::move(*entry.path),
          .timeout_seconds = entry.timeout_seconds.value_or(config.default_timeout_seconds),
          .check_pid = entry.check_pid,
          .labels = std::move(entry.labels),
          .schedule = std::move(entry.schedule),
          .grace_seconds = entry.grace_seconds});
    }
    std::sort(config.processes.begin(), config.processes.end(),
              [](const ProcessConfig& a, const ProcessConfig& b) { return a.key < b.key; });
    for (auto& entry : dirs) {
      config.heartbeat_dirs.push_back(HeartbeatDirConfig{
          .path = std::move(*entry.path),
          .timeout_seconds = entry.timeout_seconds.value_or(config.default_timeout_seconds),
          .check_pid = entry.check_pid,
          .labels = std::move(entry.labels),
          .schedule = std::move(entry.schedule),
          .grace_seconds = entry.grace_seconds,
          .follow_symlinks = entry.follow_symlinks,
          .max_files = entry.max_files});
    }
    config.file = path_;
    return config;
  }

  std::optional<std::vector<std::pair<std::string, Entry>>> parse_processes(
      const Value& value, const std::string& field) {
    if (!value.IsObject()) return fail(field, expected("an object", value));
    std::vector<std::pair<std::string, Entry>> processes;
    MemberNames keys;
    for (const auto& member : value.GetObject()) {
      auto key = string_of(member.name);
      if (key.empty()) return fail(field, "a process key must not be empty");
      // The key becomes the `process` label, and Prometheus refuses a scrape that is not UTF-8.
      if (!detail::is_valid_utf8(key)) return fail(field, "a process key must be valid UTF-8");
      auto entry_field = join(field, key);
      if (!keys.first_time(key)) return fail(entry_field, "duplicate field");
      auto entry = parse_entry(member.value, entry_field, EntryKind::kProcess);
      if (!entry) return std::nullopt;
      processes.emplace_back(std::string(key), std::move(*entry));
    }
    return processes;
  }

  std::optional<std::vector<Entry>> parse_dirs(const Value& value, const std::string& field) {
    if (!value.IsArray()) return fail(field, expected("an array", value));
    std::vector<Entry> dirs;
    for (const auto& element : value.GetArray()) {
      auto entry =
          parse_entry(element, field + "[" + std::to_string(dirs.size()) + "]", EntryKind::kFolder);
      if (!entry) return std::nullopt;
      dirs.push_back(std::move(*entry));
    }
    return dirs;
  }

  std::optional<Entry> parse_entry(const Value& value, const std::string& field, EntryKind kind) {
    const std::string_view path_name = kind == EntryKind::kFolder ? "path" : "heartbeat_path";
    if (!value.IsObject()) return fail(field, expected("an object", value));
    Entry entry;
    MemberNames names;
    std::optional<CronExpression> cron;
    const date::time_zone* zone = nullptr;
    std::optional<std::string> schedule_only;  // a field that means nothing without a schedule
    for (const auto& member : value.GetObject()) {
      auto name = string_of(member.name);
      auto member_field = join(field, name);
      if (!names.first_time(name)) return fail(member_field, "duplicate field");
      if (name == path_name) {
        entry.path = parse_path(member.value, member_field);
        if (!entry.path) return std::nullopt;
      } else if (name == "timeout_seconds") {
        entry.timeout_seconds = parse_timeout(member.value, member_field);
        if (!entry.timeout_seconds) return std::nullopt;
      } else if (name == "check_pid") {
        if (!member.value.IsBool()) return fail(member_field, expected("a boolean", member.value));
        entry.check_pid = member.value.GetBool();
      } else if (name == "labels") {
        auto labels = parse_labels(member.value, member_field);
        if (!labels) return std::nullopt;
        entry.labels = std::move(*labels);
      } else if (name == "schedule") {
        if (!member.value.IsString()) return fail(member_field, expected("a string", member.value));
        auto parsed = parse_cron(string_of(member.value));
        if (!parsed.cron) return fail(member_field, parsed.error);
        cron = std::move(parsed.cron);
      } else if (name == "timezone") {
        if (!member.value.IsString()) return fail(member_field, expected("a string", member.value));
        auto found = find_time_zone(string_of(member.value));
        if (!found.zone) return fail(member_field, found.error);
        zone = found.zone;
        schedule_only = member_field;
      } else if (name == "grace_seconds") {
        auto grace = parse_grace(member.value, member_field);
        if (!grace) return std::nullopt;
        entry.grace_seconds = *grace;
        schedule_only = member_field;
      } else if (kind == EntryKind::kFolder && name == "follow_symlinks") {
        if (!member.value.IsBool()) return fail(member_field, expected("a boolean", member.value));
        entry.follow_symlinks = member.value.GetBool();
      } else if (kind == EntryKind::kFolder && name == "max_files") {
        if (!member.value.IsUint64() || member.value.GetUint64() < 1) {
          return fail(member_field, "must be an integer >= 1");
        }
        entry.max_files = static_cast<std::size_t>(member.value.GetUint64());
      } else {
        return fail(member_field, "unknown field");
      }
    }
    if (!entry.path) return fail(join(field, path_name), "required field is missing");
    if (cron) {
      if (zone == nullptr) {
        auto utc = find_time_zone("UTC");
        if (!utc.zone) return fail(join(field, "timezone"), "the default, UTC: " + utc.error);
        zone = utc.zone;
      }
      entry.schedule = std::make_shared<const Schedule>(std::move(*cron), zone);
    } else if (schedule_only) {
      return fail(*schedule_only, "applies only to a process with a \"schedule\"");
    }
    return entry;
  }

  std::optional<double> parse_timeout(const Value& value, const std::string& field) {
    if (!value.IsNumber()) return fail(field, expected("a number", value));
    double seconds = value.GetDouble();
    // RapidJSON already refuses NaN and overflow; checking here keeps the guarantee local.
    if (!std::isfinite(seconds)) {
      return fail(field, "must be finite, got " + detail::format_number(seconds));
    }
    if (seconds <= 0) return fail(field, "must be > 0, got " + detail::format_number(seconds));
    return seconds;
  }

  std::optional<double> parse_grace(const Value& value, const std::string& field) {
    if (!value.IsNumber()) return fail(field, expected("a number", value));
    double seconds = value.GetDouble();
    if (!std::isfinite(seconds) || seconds < 0) {
      return fail(field, "must be >= 0, got " + detail::format_number(seconds));
    }
    return seconds;
  }

  std::optional<fs::path> parse_path(const Value& value, const std::string& field) {
    if (!value.IsString()) return fail(field, expected("a string", value));
    auto text = string_of(value);
    if (text.empty()) return fail(field, "must not be empty");
    if (text.find('\0') != std::string_view::npos) {
      return fail(field, "must not contain a NUL character");
    }
    fs::path path(text);
    if (path.is_relative()) {
      if (!base_) {
        return fail(field, "cannot resolve against the config file's folder: " + base_error_);
      }
      path = *base_ / path;
    }
    return path.lexically_normal();
  }

  std::optional<Labels> parse_labels(const Value& value, const std::string& field) {
    if (!value.IsObject()) return fail(field, expected("an object", value));
    Labels labels;
    for (const auto& member : value.GetObject()) {
      auto name = string_of(member.name);
      auto label_field = join(field, name);
      if (auto problem = static_label_name_problem(name)) return fail(label_field, *problem);
      if (!member.value.IsString()) return fail(label_field, expected("a string", member.value));
      auto label_value = string_of(member.value);
      if (!detail::is_valid_utf8(label_value)) return fail(label_field, "must be valid UTF-8");
      if (label_value.empty()) {
        return fail(label_field,
                    "must not be empty (Prometheus treats an empty label value as no label)");
      }
      if (!labels.emplace(name, label_value).second) return fail(label_field, "duplicate field");
    }
    return labels;
  }

  fs::path path_;
  std::string file_;  // as it appears in messages
  std::optional<fs::path> base_;
  std::string base_error_;
  std::string error_;
};

bool is_label_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

bool is_label_char(char c) { return is_label_start(c) || (c >= '0' && c <= '9'); }

}  // namespace

ConfigResult load_config(const std::filesystem::path& file) {
  using Status = detail::BoundedFile::Status;
  auto fail = [&file](std::string what) {
    return ConfigResult{std::nullopt, file.string() + ": " + what};
  };
  auto read = detail::read_bounded_file(file, kMaxConfigBytes);
  switch (read.status) {
    case Status::kOk:
      return parse_config(read.content, file);
    case Status::kOpenFailed:
    case Status::kStatFailed:
    case Status::kReadFailed:
      return fail("cannot read config file: " + detail::error_text(read.error));
    case Status::kNotRegularFile:
    case Status::kSymlink:  // read_bounded_file follows symlinks: the administrator chose the path
      return fail("not a regular file");
    case Status::kTooLarge:
      return fail("file is larger than 16 MiB");
  }
  return fail("cannot read config file");
}

ConfigResult parse_config(std::string_view json, const std::filesystem::path& file) {
  return Parser(file).parse(json);
}

std::optional<std::string> static_label_name_problem(std::string_view name) {
  if (name.empty() || !is_label_start(name.front()) ||
      !std::all_of(name.begin(), name.end(), is_label_char) || name.starts_with("__") ||
      name == "process" || name == "state") {
    return "invalid label name (must match [a-zA-Z_][a-zA-Z0-9_]* and not be process, state or "
           "start with __)";
  }
  struct Reserved {
    std::string_view name;
    std::string_view why;
    std::string_view instead;
  };
  static constexpr Reserved kReserved[] = {
      {"le", "is the bucket label of histograms (promtool check metrics refuses it here)", "limit"},
      {"quantile", "is the label of summary quantiles (promtool check metrics refuses it here)",
       "percentile"},
      {"job", "is set by Prometheus on every target (with honor_labels this one would replace it)",
       "service"},
      {"instance",
       "is set by Prometheus on every target (with honor_labels this one would replace it)",
       "host"},
  };
  constexpr std::string_view kExported = "exported_";
  std::string_view base = name;
  while (base.starts_with(kExported)) base.remove_prefix(kExported.size());
  std::string_view why = "is how Prometheus renames a label that clashes with a target label";
  std::string_view instead = base.empty() ? "origin" : base;
  for (const auto& reserved : kReserved) {
    if (base != reserved.name) continue;
    if (base == name) why = reserved.why;
    instead = reserved.instead;
  }
  if (base == name && instead == name) return std::nullopt;
  return "\"" + std::string(name) + "\" " + std::string(why) + "; use another name, such as \"" +
         std::string(instead) + "\"";
}

bool is_valid_static_label_name(std::string_view name) {
  return !static_label_name_problem(name).has_value();
}

}  // namespace heartbeat_exporter
