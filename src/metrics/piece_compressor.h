#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "metrics/exposition.h"

namespace heartbeat_exporter {

// gzip for expositions, remembering each piece's compressed form between scrapes. Between two
// scrapes most of the text is the same (every heartbeat_state, heartbeat_timeout_seconds and
// heartbeat_pid line, and the lines of processes that did not beat), and compressing it again
// would be the most expensive step of a scrape. Each piece is compressed on its own (raw
// deflate from an empty window, ended by Z_SYNC_FLUSH), so that its bytes can be reused
// verbatim; the pieces, a final empty block, the joined CRC-32 and the size make one gzip member
// (RFC 1952). A piece is reused when the piece at the same position last time had the same size
// and 64-bit hash (libstdc++'s MurmurHash2: a false match is a 2^-64 chance per piece, where
// keeping the last text to compare would double the memory of a large scrape). Pieces that
// changed are compressed in parallel. Thread-safe.
class PieceCompressor {
 public:
  explicit PieceCompressor(int level);

  // The gzip of text.joined(); nullopt when zlib fails.
  std::optional<std::string> gzip(const ExpositionText& text, unsigned threads);

  // How many pieces the last gzip() call compressed and reused.
  struct Stats {
    std::size_t compressed = 0;
    std::size_t reused = 0;
  };
  Stats last_stats() const;

 private:
  struct Piece {
    std::size_t size = 0;
    std::uint32_t crc = 0;
    std::uint64_t hash = 0;
    std::shared_ptr<const std::string> deflated;
  };
  using Pieces = std::vector<Piece>;

  int level_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Pieces> previous_ = std::make_shared<Pieces>();
  Stats stats_;
};

}  // namespace heartbeat_exporter
