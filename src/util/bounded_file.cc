#include "util/bounded_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace heartbeat_exporter::detail {

FileDescriptor::~FileDescriptor() {
  if (fd_ >= 0) ::close(fd_);
}

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

FileStamp to_stamp(const struct stat& info) {
  auto nanoseconds = [](const timespec& time) {
    return static_cast<std::int64_t>(time.tv_sec) * 1'000'000'000 + time.tv_nsec;
  };
  return {static_cast<std::uint64_t>(info.st_dev), static_cast<std::uint64_t>(info.st_ino),
          static_cast<std::int64_t>(info.st_size), nanoseconds(info.st_mtim),
          nanoseconds(info.st_ctim)};
}

std::string error_text(int error) { return std::generic_category().message(error); }

namespace {

// The part of both readers after open(): fstat the file, then read at most max_bytes + 1 bytes.
BoundedFile read_opened(const FileDescriptor& fd, std::size_t max_bytes) {
  using Status = BoundedFile::Status;
  BoundedFile file;
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return {Status::kStatFailed, errno, {}, {}};
  if (!S_ISREG(info.st_mode)) return {Status::kNotRegularFile, 0, {}, {}};
  const auto size = static_cast<std::size_t>(info.st_size);
  if (size > max_bytes) return {Status::kTooLarge, 0, {}, {}};
  file.stamp = to_stamp(info);

  // Start from the size fstat saw, so that small files do not pay for a max_bytes buffer.
  std::string& buffer = file.content;
  buffer.resize(std::min(size, max_bytes) + 1);
  std::size_t total = 0;
  while (true) {
    if (total == buffer.size()) {
      if (buffer.size() > max_bytes) break;
      buffer.resize(max_bytes + 1);
    }
    const ssize_t got = ::read(fd.get(), buffer.data() + total, buffer.size() - total);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return {Status::kReadFailed, errno, {}, {}};
    if (got == 0) break;
    total += static_cast<std::size_t>(got);
  }
  if (total > max_bytes) return {Status::kTooLarge, 0, {}, {}};
  buffer.resize(total);
  return file;
}

constexpr int kReadFlags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;

}  // namespace

BoundedFile read_bounded_file(const std::filesystem::path& path, std::size_t max_bytes) {
  const FileDescriptor fd(::open(path.c_str(), kReadFlags));
  if (fd.get() < 0) return {BoundedFile::Status::kOpenFailed, errno, {}, {}};
  return read_opened(fd, max_bytes);
}

BoundedFile read_bounded_file_at(int dir_fd, const char* name, std::size_t max_bytes,
                                 Symlinks symlinks, const struct stat* checked) {
  using Status = BoundedFile::Status;
  const bool refuse = symlinks == Symlinks::kRefuse;
  struct stat info {};
  if (checked == nullptr) {
    if (::fstatat(dir_fd, name, &info, refuse ? AT_SYMLINK_NOFOLLOW : 0) != 0) {
      return {Status::kOpenFailed, errno, {}, {}};
    }
    checked = &info;
  }
  if (S_ISLNK(checked->st_mode)) return {Status::kSymlink, 0, {}, {}};
  if (!S_ISREG(checked->st_mode)) return {Status::kNotRegularFile, 0, {}, {}};
  if (static_cast<std::size_t>(checked->st_size) > max_bytes) return {Status::kTooLarge, 0, {}, {}};
  const FileDescriptor fd(::openat(dir_fd, name, kReadFlags | (refuse ? O_NOFOLLOW : 0)));
  if (fd.get() < 0) {
    // Replaced by a symlink since the check.
    if (refuse && errno == ELOOP) return {Status::kSymlink, 0, {}, {}};
    return {Status::kOpenFailed, errno, {}, {}};
  }
  return read_opened(fd, max_bytes);
}

}  // namespace heartbeat_exporter::detail
