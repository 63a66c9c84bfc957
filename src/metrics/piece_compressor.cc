#include "metrics/piece_compressor.h"

#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <string_view>
#include <utility>

#include "util/parallel.h"

namespace heartbeat_exporter {
namespace {

// A fixed-Huffman block with BFINAL set and only the end-of-block code: what zlib writes for
// Z_FINISH after a flush. It ends the deflate stream that the pieces make together.
constexpr std::string_view kFinalEmptyBlock("\x03\x00", 2);

// Raw deflate of one piece from an empty window, ended byte-aligned by Z_SYNC_FLUSH and not
// final, so that pieces concatenate into one deflate stream. The stream is reset, not made
// anew, for each piece: zlib's state is a few hundred KiB to allocate and clear. `buffer` is
// the thread's scratch space; the result is copied out at its exact size, since a worst-case
// buffer per piece would hold as much memory as the text itself.
std::optional<std::string> deflate_piece(z_stream& stream, std::string_view text,
                                         std::string& buffer) {
  if (deflateReset(&stream) != Z_OK) return std::nullopt;
  // deflateBound covers Z_FINISH; a sync flush adds at most its empty stored block.
  buffer.resize(deflateBound(&stream, static_cast<uLong>(text.size())) + 16);
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  stream.avail_in = static_cast<uInt>(text.size());
  stream.next_out = reinterpret_cast<Bytef*>(buffer.data());
  stream.avail_out = static_cast<uInt>(buffer.size());
  const int result = deflate(&stream, Z_SYNC_FLUSH);
  if (result != Z_OK || stream.avail_in != 0 || stream.avail_out == 0) return std::nullopt;
  return std::string(buffer.data(), stream.total_out);
}

void append_le32(std::string& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((value >> (8 * i)) & 0xFF);
}

std::uint32_t crc_of(std::string_view text) {
  return static_cast<std::uint32_t>(
      crc32_z(0L, reinterpret_cast<const Bytef*>(text.data()), text.size()));
}

}  // namespace

PieceCompressor::PieceCompressor(int level) : level_(level) {}

PieceCompressor::Stats PieceCompressor::last_stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

std::optional<std::string> PieceCompressor::gzip(const ExpositionText& text, unsigned threads) {
  std::shared_ptr<const Pieces> previous;
  {
    std::lock_guard lock(mutex_);
    previous = previous_;
  }

  const std::size_t count = text.pieces.size();
  auto pieces = std::make_shared<Pieces>(count);
  std::vector<std::size_t> to_compress;
  for (std::size_t i = 0; i < count; ++i) {
    const std::string& piece_text = text.pieces[i];
    Piece& piece = (*pieces)[i];
    piece.size = piece_text.size();
    piece.hash = std::hash<std::string_view>{}(piece_text);
    if (i < previous->size()) {
      const Piece& before = (*previous)[i];
      if (before.size == piece.size && before.hash == piece.hash) {
        piece.crc = before.crc;
        piece.deflated = before.deflated;
        continue;
      }
    }
    to_compress.push_back(i);
  }

  // Largest first, taken from a shared counter, so that the threads finish together.
  std::sort(to_compress.begin(), to_compress.end(), [&](std::size_t a, std::size_t b) {
    return text.pieces[a].size() > text.pieces[b].size();
  });
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  auto work = [&] {
    z_stream stream{};
    if (deflateInit2(&stream, level_, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      failed = true;
      return;
    }
    std::string buffer;
    for (std::size_t n = next++; n < to_compress.size() && !failed; n = next++) {
      const std::size_t i = to_compress[n];
      (*pieces)[i].crc = crc_of(text.pieces[i]);
      auto deflated = deflate_piece(stream, text.pieces[i], buffer);
      if (!deflated) {
        failed = true;
        break;
      }
      (*pieces)[i].deflated = std::make_shared<const std::string>(std::move(*deflated));
    }
    deflateEnd(&stream);
  };
  const std::size_t workers = std::min<std::size_t>(to_compress.size(), std::max(threads, 1U));
  detail::run_parallel(workers, [&](std::size_t) { work(); });
  if (failed) return std::nullopt;

  std::size_t deflated_size = 0;
  for (const Piece& piece : *pieces) deflated_size += piece.deflated->size();
  std::string out;
  out.reserve(10 + deflated_size + kFinalEmptyBlock.size() + 8);
  // RFC 1952 header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
  out.append("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", 10);
  std::uint32_t crc = 0;
  std::uint64_t total = 0;
  for (const Piece& piece : *pieces) {
    out += *piece.deflated;
    crc =
        static_cast<std::uint32_t>(crc32_combine(crc, piece.crc, static_cast<z_off_t>(piece.size)));
    total += piece.size;
  }
  out += kFinalEmptyBlock;
  append_le32(out, crc);
  append_le32(out, static_cast<std::uint32_t>(total & 0xFFFFFFFFU));

  std::lock_guard lock(mutex_);
  stats_ = {to_compress.size(), count - to_compress.size()};
  previous_ = std::move(pieces);
  return out;
}

}  // namespace heartbeat_exporter
