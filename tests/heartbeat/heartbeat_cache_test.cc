#include "heartbeat/heartbeat_cache.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "heartbeat_exporter/reader.h"
#include "heartbeat_exporter/writer.h"
#include "support/open_watch.h"
#include "support/run_in_child.h"
#include "support/temp_dir.h"

namespace heartbeat_exporter {
namespace {

using namespace std::chrono_literals;
using Catch::Matchers::Equals;
using Catch::Matchers::StartsWith;
using testing::TempDir;

constexpr std::int64_t kPid = 4242;
constexpr std::int64_t kTimestampMicros = 1770272249601049;  // 2026-02-05T06:17:29.601049Z
constexpr uid_t kNobody = 65534;

// A heartbeat whose size does not depend on a one-digit iteration, so that rewriting one
// iteration over another keeps the file's size.
std::string heartbeat_json(int iteration) {
  return R"({"process_key":"worker","pid":4242,"timestamp":"2026-02-05T06:17:29.601049+00:00",)"
         R"("status":"running","iteration":)" +
         std::to_string(iteration) + "}";
}

HeartbeatData heartbeat_data(std::uint64_t iteration, std::string status = "running") {
  HeartbeatData data;
  data.process_key = "worker";
  data.pid = kPid;
  data.timestamp = Timestamp{std::chrono::microseconds{kTimestampMicros}};
  data.status = std::move(status);
  data.iteration = iteration;
  return data;
}

struct Scraped {
  ReadResult result;
  std::size_t reused = 0;
};

// One whole scrape of one file: begin, read, commit.
Scraped scrape_once(HeartbeatCache& cache, const std::filesystem::path& path) {
  auto pass = cache.begin(1);
  ReadResult result = pass.read(0, path);
  const std::size_t reused = pass.reused();
  cache.commit(std::move(pass));
  return {std::move(result), reused};
}

// A scrape in which no file is read, as when every heartbeat has disappeared from the config.
void scrape_nothing(HeartbeatCache& cache) { cache.commit(cache.begin(0)); }

std::uint64_t iteration_of(const Scraped& scraped) {
  REQUIRE(scraped.result.ok());
  REQUIRE(scraped.result.heartbeat->iteration.has_value());
  return *scraped.result.heartbeat->iteration;
}

struct stat stat_of(const std::filesystem::path& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info;
}

// Overwrites the file's bytes through the same inode, without truncating it, as a writer that
// does not rename would.
void rewrite_in_place(const std::filesystem::path& path, const std::string& content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  const ssize_t written = ::pwrite(fd, content.data(), content.size(), 0);
  ::close(fd);
  REQUIRE(written == static_cast<ssize_t>(content.size()));
}

void set_mtime(const std::filesystem::path& path, timespec mtime) {
  const timespec times[2] = {{0, UTIME_OMIT}, mtime};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

timespec realtime_plus(std::chrono::seconds offset) {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  now.tv_sec += static_cast<time_t>(offset.count());
  return now;
}

void check_same(const ReadResult& actual, const ReadResult& expected) {
  REQUIRE(actual.heartbeat.has_value() == expected.heartbeat.has_value());
  REQUIRE(actual.failure.has_value() == expected.failure.has_value());
  if (expected.heartbeat) {
    CHECK(actual.heartbeat->process_key == expected.heartbeat->process_key);
    CHECK(actual.heartbeat->pid == expected.heartbeat->pid);
    CHECK(actual.heartbeat->timestamp == expected.heartbeat->timestamp);
    CHECK(actual.heartbeat->status == expected.heartbeat->status);
    CHECK(actual.heartbeat->iteration == expected.heartbeat->iteration);
  }
  if (expected.failure) {
    CHECK(actual.failure->reason == expected.failure->reason);
    CHECK(actual.failure->message == expected.failure->message);
  }
}

std::string quoted(const std::filesystem::path& path) { return "\"" + path.string() + "\""; }

}  // namespace

TEST_CASE("an unchanged settled file is answered from the cache with an identical result") {
  TempDir dir;
  const auto path = dir.write("worker.json", heartbeat_json(7));
  HeartbeatCache cache(0ns);

  const Scraped first = scrape_once(cache, path);
  CHECK(first.reused == 0);
  const Scraped second = scrape_once(cache, path);
  CHECK(second.reused == 1);
  const Scraped third = scrape_once(cache, path);
  CHECK(third.reused == 1);

  REQUIRE(second.result.ok());
  CHECK_FALSE(second.result.failure.has_value());
  CHECK(second.result.heartbeat->process_key == "worker");
  CHECK(second.result.heartbeat->pid == kPid);
  CHECK(second.result.heartbeat->timestamp.time_since_epoch().count() == kTimestampMicros);
  CHECK(second.result.heartbeat->status == "running");
  CHECK(second.result.heartbeat->iteration == std::uint64_t{7});
  check_same(second.result, first.result);
  check_same(third.result, first.result);
  check_same(second.result, read_heartbeat(path));
}

TEST_CASE(
    "a file on a network or FUSE file system is read on every scrape, a local one is reused") {
  struct Row {
    const char* file_system;
    long type;
    std::size_t reused_after_first;
  };
  const Row row = GENERATE(values<Row>({{"NFS", NFS_SUPER_MAGIC, 0},
                                        {"CIFS", CIFS_SUPER_MAGIC, 0},
                                        {"FUSE", FUSE_SUPER_MAGIC, 0},
                                        {"ext4", EXT4_SUPER_MAGIC, 1},
                                        {"tmpfs", TMPFS_MAGIC, 1}}));
  INFO(row.file_system);
  TempDir dir;
  const auto path = dir.write("worker.json", heartbeat_json(7));
  HeartbeatCache cache(0ns, [type = row.type](const std::filesystem::path&) { return type; });

  CHECK(scrape_once(cache, path).reused == 0);
  for (int scrape = 2; scrape <= 3; ++scrape) {
    const Scraped later = scrape_once(cache, path);
    CHECK(later.reused == row.reused_after_first);
    CHECK(iteration_of(later) == std::uint64_t{7});
  }
}

TEST_CASE("reused counts exactly the files of a scrape that were answered from the cache") {
  TempDir dir;
  const auto a = dir.write("a.json", heartbeat_json(1));
  const auto b = dir.write("b.json", heartbeat_json(1));
  const auto c = dir.write("c.json", heartbeat_json(1));
  HeartbeatCache cache(0ns);
  auto scrape_all = [&] {
    auto pass = cache.begin(3);
    pass.read(0, a);
    pass.read(1, b);
    const std::uint64_t c_iteration = *pass.read(2, c).heartbeat->iteration;
    const std::size_t reused = pass.reused();
    cache.commit(std::move(pass));
    return std::pair{reused, c_iteration};
  };

  CHECK(scrape_all() == std::pair<std::size_t, std::uint64_t>{0, 1});
  CHECK(scrape_all() == std::pair<std::size_t, std::uint64_t>{3, 1});
  write_heartbeat_file(dir.path(), "c", heartbeat_data(2));
  CHECK(scrape_all() == std::pair<std::size_t, std::uint64_t>{2, 2});
}

TEST_CASE("a file replaced by rename is read again and its new content returned") {
  TempDir dir;
  HeartbeatCache cache(0ns);

  SECTION("write_heartbeat_file") {
    write_heartbeat_file(dir.path(), "worker", heartbeat_data(1));
    const auto path = heartbeat_file_path(dir.path(), "worker");
    CHECK(iteration_of(scrape_once(cache, path)) == 1);
    REQUIRE(scrape_once(cache, path).reused == 1);

    write_heartbeat_file(dir.path(), "worker", heartbeat_data(2, "stopping"));
    const Scraped changed = scrape_once(cache, path);
    CHECK(changed.reused == 0);
    CHECK(iteration_of(changed) == 2);
    CHECK(changed.result.heartbeat->status == "stopping");
  }
  SECTION("HeartbeatWriter") {
    HeartbeatWriter writer(dir.path(), "worker");
    writer.beat();
    CHECK(iteration_of(scrape_once(cache, writer.path())) == 1);
    REQUIRE(scrape_once(cache, writer.path()).reused == 1);

    writer.beat("error");
    const Scraped changed = scrape_once(cache, writer.path());
    CHECK(changed.reused == 0);
    CHECK(iteration_of(changed) == 2);
    CHECK(changed.result.heartbeat->status == "error");
    CHECK(changed.result.heartbeat->pid == ::getpid());
  }
}

TEST_CASE("a file rewritten in place with the same size is read again, never answered stale") {
  TempDir dir;
  const auto path = dir.write("worker.json", heartbeat_json(1));
  HeartbeatCache cache(0ns);
  CHECK(iteration_of(scrape_once(cache, path)) == 1);
  REQUIRE(scrape_once(cache, path).reused == 1);
  const struct stat before = stat_of(path);

  rewrite_in_place(path, heartbeat_json(2));
  SECTION("then its mtime set into the future") { set_mtime(path, realtime_plus(1h)); }
  SECTION("then its mtime set back to what it was, so only ctime tells") {
    set_mtime(path, before.st_mtim);
  }
  const struct stat after = stat_of(path);
  REQUIRE(after.st_ino == before.st_ino);
  REQUIRE(after.st_size == before.st_size);

  const Scraped changed = scrape_once(cache, path);
  CHECK(changed.reused == 0);
  CHECK(iteration_of(changed) == 2);
}

TEST_CASE("a file whose mtime is in the future is never answered from the cache") {
  TempDir dir;
  const auto path = dir.write("worker.json", heartbeat_json(1));
  set_mtime(path, realtime_plus(1h));
  HeartbeatCache cache(0ns);

  CHECK(scrape_once(cache, path).reused == 0);
  CHECK(scrape_once(cache, path).reused == 0);
  rewrite_in_place(path, heartbeat_json(2));
  set_mtime(path, realtime_plus(1h));
  const Scraped changed = scrape_once(cache, path);
  CHECK(changed.reused == 0);
  CHECK(iteration_of(changed) == 2);
}

TEST_CASE("a file changed within the racy window is read again, even when rewritten in place") {
  TempDir dir;
  const auto path = dir.write("worker.json", heartbeat_json(1));
  // The default window of 1 s: the file was written just now.
  HeartbeatCache cache;

  CHECK(iteration_of(scrape_once(cache, path)) == 1);
  const Scraped unchanged = scrape_once(cache, path);
  CHECK(unchanged.reused == 0);
  CHECK(iteration_of(unchanged) == 1);

  const struct stat before = stat_of(path);
  rewrite_in_place(path, heartbeat_json(2));
  REQUIRE(stat_of(path).st_ino == before.st_ino);
  const Scraped changed = scrape_once(cache, path);
  CHECK(changed.reused == 0);
  CHECK(iteration_of(changed) == 2);
}

TEST_CASE("a file with an old mtime but a recent ctime is not settled") {
  TempDir dir;
  const auto path = dir.write("worker.json", heartbeat_json(1));
  // Setting the mtime back (touch -d) sets the ctime to now, which is what must count.
  set_mtime(path, realtime_plus(-2h));
  HeartbeatCache cache(1h);

  CHECK(scrape_once(cache, path).reused == 0);
  CHECK(scrape_once(cache, path).reused == 0);
}

TEST_CASE("invalid JSON that does not change is reused with the same failure") {
  TempDir dir;
  const auto path = dir.write("worker.json", R"({"pid": 12)");
  HeartbeatCache cache(0ns);

  const Scraped first = scrape_once(cache, path);
  CHECK(first.reused == 0);
  REQUIRE(first.result.failure.has_value());
  CHECK(first.result.failure->reason == ReadError::kInvalidJson);
  CHECK_THAT(first.result.failure->message,
             StartsWith("heartbeat file " + quoted(path) + ": invalid JSON: "));

  const Scraped second = scrape_once(cache, path);
  CHECK(second.reused == 1);
  check_same(second.result, first.result);
  check_same(second.result, read_heartbeat(path));
}

TEST_CASE("a heartbeat that is valid JSON but not valid is reused with the same failure") {
  TempDir dir;
  const auto path =
      dir.write("worker.json", R"({"timestamp": "2026-02-05T06:17:29Z", "status": "running"})");
  HeartbeatCache cache(0ns);

  const Scraped first = scrape_once(cache, path);
  REQUIRE(first.result.failure.has_value());
  CHECK(first.result.failure->reason == ReadError::kMissingField);
  const Scraped second = scrape_once(cache, path);
  CHECK(second.reused == 1);
  check_same(second.result, first.result);
}

TEST_CASE("a missing file, a FIFO and a too large file are never cached and fail the same way") {
  TempDir dir;
  HeartbeatCache cache(0ns);
  std::filesystem::path path;
  ReadError reason{};
  std::string message;

  SECTION("missing") {
    path = dir / "absent.json";
    reason = ReadError::kMissing;
    message = "opening heartbeat file " + quoted(path) + ": No such file or directory";
  }
  SECTION("FIFO") {
    path = dir / "fifo.json";
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    reason = ReadError::kNotRegularFile;
    message = "heartbeat file " + quoted(path) + " is not a regular file";
  }
  SECTION("too large") {
    std::string json = heartbeat_json(1);
    json.append(kMaxHeartbeatBytes + 1 - json.size(), ' ');
    path = dir.write("big.json", json);
    reason = ReadError::kTooLarge;
    message = "heartbeat file " + quoted(path) + " is larger than 65536 bytes";
  }

  for (int pass = 1; pass <= 3; ++pass) {
    INFO("scrape " << pass);
    const Scraped scraped = scrape_once(cache, path);
    CHECK(scraped.reused == 0);
    REQUIRE(scraped.result.failure.has_value());
    CHECK(scraped.result.failure->reason == reason);
    CHECK_THAT(scraped.result.failure->message, Equals(message));
  }
}

TEST_CASE("an unreadable file is never cached and is unreadable on every scrape") {
  TempDir dir;
  const auto path = dir.write("secret.json", heartbeat_json(1));
  std::filesystem::permissions(dir.path(), std::filesystem::perms(0755));
  std::filesystem::permissions(path, std::filesystem::perms::none);

  // Root may read a mode-000 file, so the scrapes run in a child that is "nobody".
  const std::string report = testing::run_in_child([&]() -> std::string {
    if (::geteuid() == 0 &&
        (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0)) {
      return "dropping privileges failed";
    }
    HeartbeatCache cache(0ns);
    std::string seen;
    for (int pass = 1; pass <= 2; ++pass) {
      const Scraped scraped = scrape_once(cache, path);
      seen += "reused " + std::to_string(scraped.reused) + ", ";
      seen += scraped.result.ok() ? std::string("ok")
                                  : std::string(to_string(scraped.result.failure->reason)) + ": " +
                                        scraped.result.failure->message;
      seen += "\n";
    }
    return seen;
  });

  const std::string expected =
      "reused 0, unreadable: opening heartbeat file " + quoted(path) + ": Permission denied\n";
  CHECK_THAT(report, Equals(expected + expected));
}

TEST_CASE("a file not read in one scrape is forgotten and read again after it") {
  TempDir dir;
  const auto path = dir.write("worker.json", heartbeat_json(1));
  HeartbeatCache cache(0ns);

  CHECK(scrape_once(cache, path).reused == 0);
  REQUIRE(scrape_once(cache, path).reused == 1);
  scrape_nothing(cache);
  const Scraped again = scrape_once(cache, path);
  CHECK(again.reused == 0);
  CHECK(iteration_of(again) == 1);
}

TEST_CASE("a file deleted after it was cached is missing on the next scrape") {
  TempDir dir;
  const auto path = dir.write("worker.json", heartbeat_json(1));
  HeartbeatCache cache(0ns);
  CHECK(scrape_once(cache, path).result.ok());
  REQUIRE(scrape_once(cache, path).reused == 1);

  std::filesystem::remove(path);
  const Scraped gone = scrape_once(cache, path);
  CHECK(gone.reused == 0);
  REQUIRE(gone.result.failure.has_value());
  CHECK(gone.result.failure->reason == ReadError::kMissing);
  CHECK_THAT(gone.result.failure->message,
             Equals("opening heartbeat file " + quoted(path) + ": No such file or directory"));
}

TEST_CASE("a symlink whose target changes is read again") {
  TempDir dir;
  const auto first_target = dir.write("first.json", heartbeat_json(1));
  const auto second_target = dir.write("second.json", heartbeat_json(2));
  const auto link = dir / "worker.json";
  std::filesystem::create_symlink(first_target, link);
  HeartbeatCache cache(0ns);

  CHECK(iteration_of(scrape_once(cache, link)) == 1);
  REQUIRE(scrape_once(cache, link).reused == 1);

  // Swapped by rename, as `ln -sfn` does, so that the link never dangles.
  std::filesystem::create_symlink(second_target, dir / "worker.json.tmp");
  std::filesystem::rename(dir / "worker.json.tmp", link);
  const Scraped changed = scrape_once(cache, link);
  CHECK(changed.reused == 0);
  CHECK(iteration_of(changed) == 2);
  CHECK(scrape_once(cache, link).reused == 1);
}

}  // namespace heartbeat_exporter

namespace heartbeat_exporter {
namespace {

// One whole scrape of `name` in the folder open as dir_fd, as the exporter reads heartbeat
// folders.
Scraped scrape_in_folder(HeartbeatCache& cache, int dir_fd, const std::filesystem::path& path,
                         detail::Symlinks symlinks) {
  auto pass = cache.begin(1);
  const std::string name = path.filename();
  ReadResult result = pass.read(0, detail::HeartbeatFile{dir_fd, name.c_str(), symlinks, path});
  const std::size_t reused = pass.reused();
  cache.commit(std::move(pass));
  return {std::move(result), reused};
}

TEST_CASE("a file read relative to its folder is reused while unchanged and read when changed") {
  TempDir dir;
  const auto path = dir.write("hb/worker.json", heartbeat_json(1));
  const detail::FileDescriptor folder(::open((dir / "hb").c_str(), O_RDONLY | O_DIRECTORY));
  REQUIRE(folder.get() >= 0);
  HeartbeatCache cache(0ns);
  constexpr auto kRefuse = detail::Symlinks::kRefuse;

  CHECK(iteration_of(scrape_in_folder(cache, folder.get(), path, kRefuse)) == 1);
  const Scraped again = scrape_in_folder(cache, folder.get(), path, kRefuse);
  CHECK(again.reused == 1);
  CHECK(iteration_of(again) == 1);
  write_heartbeat_file(dir / "hb", "worker", heartbeat_data(2));
  const Scraped changed = scrape_in_folder(cache, folder.get(), path, kRefuse);
  CHECK(changed.reused == 0);
  CHECK(iteration_of(changed) == 2);
}

TEST_CASE(
    "a symlink in a folder that refuses them is `symlink` at every scrape, is never "
    "cached, and its target is never opened") {
  TempDir dir;
  const auto target = dir.write("private/secret.json", heartbeat_json(1));
  std::filesystem::create_directory(dir / "hb");
  const auto link = dir / "hb/worker.json";
  std::filesystem::create_symlink(target, link);
  const detail::FileDescriptor folder(::open((dir / "hb").c_str(), O_RDONLY | O_DIRECTORY));
  REQUIRE(folder.get() >= 0);
  testing::OpenWatch opens(target);
  HeartbeatCache cache(0ns);

  for (int scrape = 0; scrape < 3; ++scrape) {
    const Scraped refused = scrape_in_folder(cache, folder.get(), link, detail::Symlinks::kRefuse);
    CHECK(refused.reused == 0);
    REQUIRE(refused.result.failure.has_value());
    CHECK(refused.result.failure->reason == ReadError::kSymlink);
  }
  CHECK(opens.opens() == 0);

  // Replaced by the real file, it is read.
  std::filesystem::remove(link);
  std::filesystem::copy_file(target, link);
  CHECK(iteration_of(scrape_in_folder(cache, folder.get(), link, detail::Symlinks::kRefuse)) == 1);
}

}  // namespace
}  // namespace heartbeat_exporter
