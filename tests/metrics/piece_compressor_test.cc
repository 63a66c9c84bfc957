#include "metrics/piece_compressor.h"

#include <zlib.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.h"
#include "support/temp_dir.h"

namespace heartbeat_exporter {
namespace {

using testing::gunzip;

ExpositionText text_of(std::vector<std::string> pieces) {
  return ExpositionText{std::move(pieces)};
}

// Exposition-like text: repetitive lines with some digits that vary with the seed.
std::string lines(std::size_t count, unsigned seed) {
  std::mt19937 random(seed);
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    out += "heartbeat_age_seconds{process=\"worker-" + std::to_string(i) + "\"} " +
           std::to_string(random() % 100000) + "." + std::to_string(random() % 1000) + "\n";
  }
  return out;
}

TEST_CASE("the gzip of pieces inflates to their concatenation, as one gzip member") {
  PieceCompressor compressor(1);
  auto text = text_of({"# HELP a b\n", lines(2000, 1), "", lines(10, 2), std::string(70000, 'x')});
  auto gzipped = compressor.gzip(text, 1);
  REQUIRE(gzipped);
  // gunzip stops at the end of the first member and fails unless it ended with Z_STREAM_END.
  CHECK(gunzip(*gzipped) == text.joined());
  CHECK(gzipped->size() < text.size() / 3);
}

TEST_CASE("an empty exposition gzips to a valid empty member") {
  PieceCompressor compressor(1);
  auto gzipped = compressor.gzip(text_of({}), 2);
  REQUIRE(gzipped);
  CHECK(gunzip(*gzipped).empty());
  auto only_empty = compressor.gzip(text_of({"", ""}), 2);
  REQUIRE(only_empty);
  CHECK(gunzip(*only_empty).empty());
}

TEST_CASE("unchanged pieces are reused and changed ones compressed again, output still exact") {
  PieceCompressor compressor(6);
  auto first = text_of({lines(500, 1), lines(500, 2), lines(500, 3)});
  REQUIRE(compressor.gzip(first, 2));
  CHECK(compressor.last_stats().compressed == 3);
  CHECK(compressor.last_stats().reused == 0);

  auto second = text_of({lines(500, 1), lines(500, 20), lines(500, 3)});
  auto gzipped = compressor.gzip(second, 2);
  REQUIRE(gzipped);
  CHECK(compressor.last_stats().compressed == 1);
  CHECK(compressor.last_stats().reused == 2);
  CHECK(gunzip(*gzipped) == second.joined());

  // A piece of the same size with one byte changed is not mistaken for the old one.
  auto third = second;
  third.pieces[2][100] = third.pieces[2][100] == '1' ? '2' : '1';
  auto changed = compressor.gzip(third, 1);
  REQUIRE(changed);
  CHECK(compressor.last_stats().compressed == 1);
  CHECK(gunzip(*changed) == third.joined());
}

TEST_CASE("more or fewer pieces than last time still give the exact text") {
  PieceCompressor compressor(1);
  REQUIRE(compressor.gzip(text_of({lines(100, 1), lines(100, 2)}), 2));
  auto more = text_of({lines(100, 1), lines(100, 2), lines(100, 3)});
  auto gzipped = compressor.gzip(more, 2);
  REQUIRE(gzipped);
  CHECK(gunzip(*gzipped) == more.joined());
  auto fewer = text_of({lines(100, 1)});
  gzipped = compressor.gzip(fewer, 2);
  REQUIRE(gzipped);
  CHECK(gunzip(*gzipped) == fewer.joined());
}

TEST_CASE("the gzip trailer holds the CRC-32 and size of the whole text") {
  PieceCompressor compressor(1);
  auto text = text_of({lines(300, 4), lines(300, 5)});
  auto gzipped = compressor.gzip(text, 2);
  REQUIRE(gzipped);
  auto le32 = [&](std::size_t at) {
    std::uint32_t value = 0;
    for (int i = 3; i >= 0; --i)
      value = value << 8 | static_cast<unsigned char>((*gzipped)[at + i]);
    return value;
  };
  const std::string joined = text.joined();
  const auto crc = crc32_z(0, reinterpret_cast<const Bytef*>(joined.data()), joined.size());
  CHECK(le32(gzipped->size() - 8) == crc);
  CHECK(le32(gzipped->size() - 4) == joined.size());
  CHECK(static_cast<unsigned char>((*gzipped)[0]) == 0x1f);
  CHECK(static_cast<unsigned char>((*gzipped)[1]) == 0x8b);
}

TEST_CASE("gzip -t and gzip -dc accept what the compressor writes, reused pieces included") {
  testing::TempDir dir;
  PieceCompressor compressor(Z_DEFAULT_COMPRESSION);
  REQUIRE(compressor.gzip(text_of({lines(3000, 1), lines(10, 2), lines(3000, 3)}), 2));
  auto text = text_of({lines(3000, 1), lines(10, 7), lines(3000, 3)});
  auto gzipped = compressor.gzip(text, 2);
  REQUIRE(gzipped);
  REQUIRE(compressor.last_stats().reused == 2);
  auto compressed = dir.write("metrics.gz", *gzipped);
  auto inflated = dir.path() / "metrics.txt";
  CHECK(std::system(("gzip -t '" + compressed.string() + "'").c_str()) == 0);
  REQUIRE(std::system(
              ("gzip -dc '" + compressed.string() + "' > '" + inflated.string() + "'").c_str()) ==
          0);
  std::ifstream file(inflated, std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  CHECK(content == text.joined());
}

TEST_CASE("an invalid zlib level is a failure, not a broken stream") {
  PieceCompressor compressor(42);
  CHECK_FALSE(compressor.gzip(text_of({"a\n"}), 1));
}

TEST_CASE("concurrent gzip calls on one compressor each return their own exact text", "[threads]") {
  PieceCompressor compressor(1);
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (unsigned t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (unsigned round = 0; round < 20; ++round) {
        auto text = text_of({lines(200, 1), lines(200, t * 100 + round % 3)});
        auto gzipped = compressor.gzip(text, 2);
        if (!gzipped || gunzip(*gzipped) != text.joined()) ++wrong[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong == std::vector<int>(4, 0));
}

}  // namespace
}  // namespace heartbeat_exporter
