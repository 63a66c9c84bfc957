#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>

namespace heartbeat_exporter::detail {

// Owns a file descriptor and closes it.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd = -1) : fd_(fd) {}
  ~FileDescriptor();
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept;
  int get() const { return fd_; }

 private:
  int fd_;
};

// What fstat() says about a file's identity and last change: equal stamps mean the same inode
// with the same size, written at the same time, so its content has not changed (see
// HeartbeatCache for when a stamp may be trusted that far).
struct FileStamp {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::int64_t size = 0;
  std::int64_t modified_ns = 0;  // st_mtim
  std::int64_t changed_ns = 0;   // st_ctim
  bool operator==(const FileStamp&) const = default;
};

FileStamp to_stamp(const struct stat& info);

struct BoundedFile {
  enum class Status {
    kOk,
    kOpenFailed,      // open() (or the fstatat() before it) failed; error holds errno
    kStatFailed,      // fstat() failed; error holds errno
    kNotRegularFile,  // FIFO, device, socket, directory
    kTooLarge,        // more than max_bytes, by fstat or by what read() returned
    kReadFailed,      // read() failed; error holds errno
    kSymlink,         // a symbolic link that was not to be followed; never opened
  };
  Status status = Status::kOk;
  int error = 0;
  std::string content;  // the whole file when status is kOk
  FileStamp stamp;      // from fstat of the opened file, when status is kOk
};

// Reads a whole regular file of at most max_bytes. Opens with O_NONBLOCK so that a FIFO cannot
// block, checks fstat before reading, and never reads more than max_bytes + 1 bytes, so a file
// that grew after fstat (or a /proc file that fstat calls empty) is still bounded.
BoundedFile read_bounded_file(const std::filesystem::path& path, std::size_t max_bytes);

enum class Symlinks { kFollow, kRefuse };

// Reads the regular file `name` of the folder open as dir_fd (AT_FDCWD: name is a path), like
// read_bounded_file, but checks what `name` is with fstatat() before opening it, so that nothing
// but a regular file of at most max_bytes is ever opened: no FIFO, device or socket, and with
// Symlinks::kRefuse no symbolic link (the last component is not followed: fstatat with
// AT_SYMLINK_NOFOLLOW, then openat with O_NOFOLLOW). `checked`, when given, is what such an
// fstatat of `name` said a moment ago (the heartbeat cache has one); it saves asking again.
// A name replaced between the check and the open is still bounded: the open never follows a
// refused symlink nor blocks on a FIFO, and fstat() of the opened file decides.
BoundedFile read_bounded_file_at(int dir_fd, const char* name, std::size_t max_bytes,
                                 Symlinks symlinks, const struct stat* checked = nullptr);

// The system's text for an errno value; unlike strerror, safe from several threads.
std::string error_text(int error);

}  // namespace heartbeat_exporter::detail
