#include "metrics/exposition.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "metrics/process_families.h"
#include "util/parallel.h"

namespace heartbeat_exporter {
namespace {

constexpr std::size_t kFamilyCount = kProcessFamilies.size();
// heartbeat_state, the family with one series per state, comes first; the others have a value.
constexpr std::size_t kState = 0;
static_assert(kProcessFamilies[kState].value == nullptr);

// The HELP and TYPE lines of each family, as TextSerializer writes them.
const std::array<std::string, kFamilyCount>& family_headers() {
  static const auto headers = [] {
    std::array<std::string, kFamilyCount> out;
    for (std::size_t f = 0; f < kFamilyCount; ++f) {
      const ProcessFamily& family = kProcessFamilies[f];
      out[f] = "# HELP " + std::string(family.name) + " " + std::string(family.help) + "\n# TYPE " +
               std::string(family.name) +
               (family.type == FamilyType::kCounter ? " counter\n" : " gauge\n");
    }
    return out;
  }();
  return headers;
}

// The longest value "%.16g" writes, "-1.234567890123457e-308", plus the newline.
constexpr std::size_t kMaxValueLine = 24;
// Below this many processes per thread, starting a thread costs more than it saves.
constexpr std::size_t kMinProcessesPerThread = 512;

// `,state="..."} ` for each of kAllHealthStates, in that order.
const std::array<std::string, kAllHealthStates.size()>& state_suffixes() {
  static const auto suffixes = [] {
    std::array<std::string, kAllHealthStates.size()> out;
    for (std::size_t i = 0; i < out.size(); ++i) {
      out[i] = ",state=\"" + std::string(to_label_value(kAllHealthStates[i])) + "\"} ";
    }
    return out;
  }();
  return suffixes;
}

void append_escaped(std::string& out, std::string_view value) {
  if (value.find_first_of("\\\"\n") == std::string_view::npos) {
    out += value;
    return;
  }
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

// `{process="key",name="value",...` without the closing brace: the process's static labels,
// shared by every line of a process, or an info family's own labels.
template <typename LabelPairs>
void append_labels(std::string& out, std::string_view key, const LabelPairs& labels) {
  out += "{process=\"";
  append_escaped(out, key);
  out += '"';
  for (const auto& [name, value] : labels) {
    out += ',';
    out += name;
    out += "=\"";
    append_escaped(out, value);
    out += '"';
  }
}

std::size_t label_prefix_bound(const ProcessConfig& process) {
  // Escaping at most doubles a value.
  std::size_t bound = 11 + 2 * process.key.size();
  for (const auto& [name, value] : process.labels) bound += 4 + name.size() + 2 * value.size();
  return bound;
}

using FamilyBuffers = std::array<std::string, kFamilyCount>;

// Renders the series of `results` for every family, each family into its own buffer.
FamilyBuffers render_range(std::span<const CheckResult> results) {
  FamilyBuffers out;
  std::size_t prefix_bound = 0;
  for (const auto& result : results) prefix_bound += label_prefix_bound(result.process);
  std::string prefixes;
  prefixes.reserve(prefix_bound);
  std::vector<std::size_t> prefix_ends;
  prefix_ends.reserve(results.size());
  for (const auto& result : results) {
    append_labels(prefixes, result.process.key, result.process.labels);
    prefix_ends.push_back(prefixes.size());
  }
  auto prefix = [&](std::size_t i) {
    std::size_t begin = i == 0 ? 0 : prefix_ends[i - 1];
    return std::string_view(prefixes).substr(begin, prefix_ends[i] - begin);
  };

  const auto& suffixes = state_suffixes();
  std::string& state = out[kState];
  std::size_t suffix_bound = 0;
  for (const auto& suffix : suffixes) suffix_bound = std::max(suffix_bound, suffix.size() + 2);
  state.reserve(
      kAllHealthStates.size() *
      (results.size() * (kProcessFamilies[kState].name.size() + suffix_bound) + prefixes.size()));
  for (std::size_t i = 0; i < results.size(); ++i) {
    for (std::size_t s = 0; s < kAllHealthStates.size(); ++s) {
      state += kProcessFamilies[kState].name;
      state += prefix(i);
      state += suffixes[s];
      state += kAllHealthStates[s] == results[i].state ? "1\n" : "0\n";
    }
  }

  for (std::size_t f = kState + 1; f < kFamilyCount; ++f) {
    const auto value_of = kProcessFamilies[f].value;
    const auto info_labels = kProcessFamilies[f].info_labels;
    std::string& text = out[f];
    if (info_labels == nullptr) {
      text.reserve(results.size() * (kProcessFamilies[f].name.size() + 2 + kMaxValueLine) +
                   prefixes.size());
    }
    for (std::size_t i = 0; i < results.size(); ++i) {
      auto value = value_of(results[i]);
      if (!value) continue;
      text += kProcessFamilies[f].name;
      if (info_labels == nullptr) {
        text += prefix(i);
      } else {
        append_labels(text, results[i].process.key, info_labels(results[i]));
      }
      text += "} ";
      append_sample_value(text, *value);
      text += '\n';
    }
  }
  return out;
}

}  // namespace

std::size_t ExpositionText::size() const {
  std::size_t total = 0;
  for (const auto& piece : pieces) total += piece.size();
  return total;
}

std::string ExpositionText::joined() const {
  std::string out;
  out.reserve(size());
  for (const auto& piece : pieces) out += piece;
  return out;
}

void append_sample_value(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "Nan";
    return;
  }
  if (std::isinf(value)) {
    out += value < 0 ? "-Inf" : "+Inf";
    return;
  }
  char buffer[32];
  std::to_chars_result written{};
  // "%.16g" writes every integer below 1e16 in full, so the integer conversion gives the same
  // text without floating-point formatting; -0 keeps its sign only through the floating-point
  // path.
  if (std::abs(value) < 1e16 && std::trunc(value) == value &&
      !(value == 0 && std::signbit(value))) {
    written = std::to_chars(buffer, buffer + sizeof buffer, static_cast<std::int64_t>(value));
  } else {
    written = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::general, 16);
  }
  out.append(buffer, written.ptr);
}

ExpositionText render_process_families(const MonitorReport& report, unsigned threads,
                                       std::size_t processes_per_piece) {
  const std::span<const CheckResult> results(report.results);
  const std::size_t workers = std::max<std::size_t>(
      1, std::min<std::size_t>(threads, results.size() / kMinProcessesPerThread));
  const std::size_t chunks =
      processes_per_piece == 0
          ? workers
          : std::max<std::size_t>(1, results.size() / processes_per_piece +
                                         (results.size() % processes_per_piece != 0));
  auto chunk_results = [&](std::size_t chunk) {
    if (processes_per_piece == 0) {
      std::size_t begin = results.size() * chunk / chunks;
      return results.subspan(begin, results.size() * (chunk + 1) / chunks - begin);
    }
    std::size_t begin = std::min(results.size(), chunk * processes_per_piece);
    return results.subspan(begin, std::min(processes_per_piece, results.size() - begin));
  };

  std::vector<FamilyBuffers> rendered(chunks);
  detail::run_ranges(chunks, std::min(workers, chunks), [&](std::size_t begin, std::size_t end) {
    for (std::size_t chunk = begin; chunk < end; ++chunk) {
      rendered[chunk] = render_range(chunk_results(chunk));
    }
  });

  ExpositionText text;
  text.pieces.reserve(kFamilyCount * (chunks + 1));
  for (std::size_t f = 0; f < kFamilyCount; ++f) {
    bool empty = std::all_of(rendered.begin(), rendered.end(),
                             [f](const FamilyBuffers& buffers) { return buffers[f].empty(); });
    // TextSerializer would write HELP and TYPE for an empty family; an exposition leaves such
    // families out, so they have no lines at all.
    if (empty) continue;
    text.pieces.emplace_back(family_headers()[f]);
    for (auto& buffers : rendered) {
      if (!buffers[f].empty()) text.pieces.push_back(std::move(buffers[f]));
    }
  }
  return text;
}

}  // namespace heartbeat_exporter
