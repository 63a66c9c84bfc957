// Stage 3, read: remembers what unchanged heartbeat files held, so a scrape need not parse them.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "heartbeat/reader_detail.h"
#include "heartbeat_exporter/reader.h"
#include "util/bounded_file.h"

namespace heartbeat_exporter {

// Remembers what each heartbeat file held at the last scrape, so that a file whose inode, size,
// mtime and ctime have not changed is not opened and parsed again: one fstatat() replaces open,
// fstat, read and parse. That fstatat() is also the reader's check of what the file is before
// it is opened, so a file that changed costs no more than without the cache. Only what the file
// holds is reused; the verdict, the age and the pid check are decided afresh at every scrape.
//
// A stamp is trusted only when the file had not changed for a while before it was read (like
// git's "racily clean" rule): a rewrite in place within the file system's timestamp granularity
// would otherwise keep the same stamp. Files on network and FUSE file systems are never reused,
// because stat() there may answer from an attribute cache that open() would have revalidated.
//
// Per scrape: `auto scrape = cache.begin(n)`, then `scrape.read(slot, file)` for slots 0..n-1
// (from several threads if wanted, each slot from one), then `cache.commit(std::move(scrape))`.
// Files not read in a scrape are forgotten at its commit.
class HeartbeatCache {
  struct Entry {
    detail::FileStamp stamp;
    ReadResult result;
  };
  using Entries = std::unordered_map<std::string, std::shared_ptr<const Entry>>;

 public:
  class Scrape {
   public:
    // detail::read_heartbeat(file), or the result of the last scrape when the file is unchanged.
    // Files are remembered by file.path.
    ReadResult read(std::size_t slot, const detail::HeartbeatFile& file);
    // read_heartbeat(path): a path, following symlinks.
    ReadResult read(std::size_t slot, const std::filesystem::path& path);
    // How many reads were answered from the cache.
    std::size_t reused() const;

   private:
    friend class HeartbeatCache;
    Scrape(const HeartbeatCache& cache, std::shared_ptr<const Entries> previous, std::size_t slots,
           std::int64_t trusted_before_ns);

    const HeartbeatCache* cache_;
    std::shared_ptr<const Entries> previous_;
    std::vector<std::string> paths_;
    std::vector<std::shared_ptr<const Entry>> kept_;
    std::vector<char> reused_;
    // Files last changed before this (CLOCK_REALTIME, ns) may be remembered.
    std::int64_t trusted_before_ns_;
  };

  // The statfs(2) f_type of the file system holding a path, nullopt when it cannot be told.
  using FileSystemTypeOf = std::function<std::optional<long>(const std::filesystem::path&)>;

  // racy_window: how long a file must have been left alone before it was read for its stamp to
  // be trusted. Tests use 0.
  // file_system_type (empty: statfs) tells local file systems from network and FUSE ones, so that
  // tests can put a file on NFS; scrapes may ask it from several threads at once.
  explicit HeartbeatCache(std::chrono::nanoseconds racy_window = std::chrono::seconds{1},
                          FileSystemTypeOf file_system_type = {});

  Scrape begin(std::size_t slots) const;
  void commit(Scrape&& scrape);

 private:
  // False for network and FUSE file systems; asked once per device.
  bool is_local(std::uint64_t device, const std::filesystem::path& path) const;

  std::int64_t racy_window_ns_;
  FileSystemTypeOf file_system_type_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Entries> entries_ = std::make_shared<Entries>();
  mutable std::unordered_map<std::uint64_t, bool> local_devices_;
};

}  // namespace heartbeat_exporter
