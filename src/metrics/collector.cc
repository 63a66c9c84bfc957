#include "metrics/collector.h"

#include <prometheus/text_serializer.h>

#include <utility>

namespace heartbeat_exporter {
namespace {

// zlib's fastest level: on exposition text it compresses nearly as well as the default level in
// much less time (figures: tests/bench/README.md).
constexpr int kGzipLevel = 1;

// The pieces of text the compressor reuses when unchanged: a state change or a beat costs
// compressing the piece it falls in, not the whole family.
constexpr std::size_t kProcessesPerPiece = 1000;

}  // namespace

Exposition::Exposition(ExpositionText text, std::shared_ptr<PieceCompressor> compressor,
                       unsigned threads)
    : text_(std::move(text)), compressor_(std::move(compressor)), threads_(threads) {}

const std::optional<std::string>& Exposition::gzipped() const {
  std::call_once(gzip_once_, [this] { gzipped_ = compressor_->gzip(text_, threads_); });
  return gzipped_;
}

HeartbeatCollector::HeartbeatCollector(std::shared_ptr<const Config> config, const Clock& clock,
                                       const ProcessTable& processes, CheckerOptions options)
    : checker_(clock, processes, options),
      threads_(checker_.threads()),
      compressor_(std::make_shared<PieceCompressor>(kGzipLevel)),
      config_(std::move(config)) {}

std::shared_ptr<const Config> HeartbeatCollector::config() const {
  std::lock_guard lock(config_mutex_);
  return config_;
}

void HeartbeatCollector::set_config(std::shared_ptr<const Config> config) {
  std::lock_guard lock(config_mutex_);
  config_ = std::move(config);
}

MonitorReport HeartbeatCollector::check() const {
  // Holding our own reference keeps the config alive even if a reload swaps it mid-scrape.
  auto config = this->config();
  return checker_.check_all(*config);
}

std::shared_ptr<const Exposition> HeartbeatCollector::expose() {
  return in_flight_.run([this] { return collect(); });
}

std::shared_ptr<const Exposition> HeartbeatCollector::collect() {
  ExpositionText text;
  std::string self_text;
  {
    MonitorReport report = check();
    self_.count_read_errors(report);
    self_.count_pid_checks_skipped(report);
    transitions_.record(report);
    text = render_process_families(report, threads_, kProcessesPerPiece);
    // The exporter's own metrics stay with prometheus-cpp: few series, its serializer is fine.
    self_text = prometheus::TextSerializer().Serialize(self_.families(report));
    // The report goes here, before anything is compressed: for a large fleet it takes about as
    // much memory as the text.
  }
  text.pieces.push_back(std::move(self_text));
  return std::make_shared<const Exposition>(std::move(text), compressor_, threads_);
}

}  // namespace heartbeat_exporter
