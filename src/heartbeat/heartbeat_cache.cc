#include "heartbeat/heartbeat_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>

#include <algorithm>
#include <utility>

namespace heartbeat_exporter {
namespace {

std::int64_t realtime_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

// Magic numbers from linux/magic.h and the file systems' sources: where stat() may be
// answered from a client-side cache, or by a user-space server.
bool is_remote_magic(long magic) {
  constexpr unsigned long kRemote[] = {
      0x6969,      // NFS
      0xFF534D42,  // CIFS
      0xFE534D42,  // SMB2
      0x517B,      // SMB
      0x65735546,  // FUSE (sshfs, s3fs, ...)
      0x00C36400,  // Ceph
      0x01021997,  // 9p (v9fs)
      0x6B414653,  // AFS
      0x47504653,  // GPFS
      0x0BD00BD0,  // Lustre
      0x013111A8,  // IBRIX
      0x73757245,  // Coda
  };
  auto value = static_cast<unsigned long>(magic) & 0xFFFFFFFFUL;
  return std::find(std::begin(kRemote), std::end(kRemote), value) != std::end(kRemote);
}

std::optional<long> statfs_type(const std::filesystem::path& path) {
  struct statfs info {};
  if (::statfs(path.c_str(), &info) != 0) return std::nullopt;
  return static_cast<long>(info.f_type);
}

}  // namespace

HeartbeatCache::Scrape::Scrape(const HeartbeatCache& cache, std::shared_ptr<const Entries> previous,
                               std::size_t slots, std::int64_t trusted_before_ns)
    : cache_(&cache),
      previous_(std::move(previous)),
      paths_(slots),
      kept_(slots),
      reused_(slots, 0),
      trusted_before_ns_(trusted_before_ns) {}

ReadResult HeartbeatCache::Scrape::read(std::size_t slot, const std::filesystem::path& path) {
  return read(slot, detail::HeartbeatFile{AT_FDCWD, path.c_str(), detail::Symlinks::kFollow, path});
}

ReadResult HeartbeatCache::Scrape::read(std::size_t slot, const detail::HeartbeatFile& file) {
  paths_[slot] = file.path.native();
  struct stat info {};
  const int flags = file.symlinks == detail::Symlinks::kRefuse ? AT_SYMLINK_NOFOLLOW : 0;
  const bool checked = ::fstatat(file.dir_fd, file.name, &info, flags) == 0;
  if (checked && S_ISREG(info.st_mode)) {
    if (auto found = previous_->find(paths_[slot]);
        found != previous_->end() && detail::to_stamp(info) == found->second->stamp) {
      kept_[slot] = found->second;
      reused_[slot] = 1;
      return found->second->result;
    }
  }

  detail::FileStamp stamp;
  // Without a check (the file vanished, say) the reader asks again and reports why.
  ReadResult result = detail::read_heartbeat(file, &stamp, checked ? &info : nullptr);
  // Only what came from a whole, settled, local file is worth remembering; failures to open or
  // stat it have no stamp and are tried again next time.
  const bool read_content = result.ok() || (result.failure->reason != ReadError::kMissing &&
                                            result.failure->reason != ReadError::kUnreadable &&
                                            result.failure->reason != ReadError::kNotRegularFile &&
                                            result.failure->reason != ReadError::kSymlink &&
                                            result.failure->reason != ReadError::kTooLarge);
  const bool settled = std::max(stamp.modified_ns, stamp.changed_ns) < trusted_before_ns_;
  if (read_content && settled && cache_->is_local(stamp.device, file.path)) {
    kept_[slot] = std::make_shared<const Entry>(Entry{stamp, result});
  }
  return result;
}

std::size_t HeartbeatCache::Scrape::reused() const {
  return static_cast<std::size_t>(std::count(reused_.begin(), reused_.end(), 1));
}

// The default window of 1 s is far beyond any file system's timestamp granularity (ext4 and
// xfs: one kernel tick).
HeartbeatCache::HeartbeatCache(std::chrono::nanoseconds racy_window,
                               FileSystemTypeOf file_system_type)
    : racy_window_ns_(racy_window.count()),
      file_system_type_(file_system_type ? std::move(file_system_type) : statfs_type) {}

HeartbeatCache::Scrape HeartbeatCache::begin(std::size_t slots) const {
  const std::int64_t trusted_before = realtime_ns() - racy_window_ns_;
  std::lock_guard lock(mutex_);
  return Scrape(*this, entries_, slots, trusted_before);
}

void HeartbeatCache::commit(Scrape&& scrape) {
  auto entries = std::make_shared<Entries>();
  entries->reserve(scrape.kept_.size());
  for (std::size_t slot = 0; slot < scrape.kept_.size(); ++slot) {
    if (scrape.kept_[slot]) {
      entries->insert_or_assign(std::move(scrape.paths_[slot]), std::move(scrape.kept_[slot]));
    }
  }
  std::shared_ptr<const Entries> old;
  {
    std::lock_guard lock(mutex_);
    // Two scrapes may commit in either order; both views are correct, the last one wins.
    old = std::exchange(entries_, std::move(entries));
  }
  // `old` is freed here, outside the lock.
}

bool HeartbeatCache::is_local(std::uint64_t device, const std::filesystem::path& path) const {
  {
    std::lock_guard lock(mutex_);
    if (auto found = local_devices_.find(device); found != local_devices_.end()) {
      return found->second;
    }
  }
  // A failed statfs (the file was just deleted) says nothing about the device: do not trust
  // this file, and ask again next time rather than remember it.
  const std::optional<long> type = file_system_type_(path);
  if (!type) return false;
  const bool local = !is_remote_magic(*type);
  std::lock_guard lock(mutex_);
  local_devices_.emplace(device, local);
  return local;
}

}  // namespace heartbeat_exporter
