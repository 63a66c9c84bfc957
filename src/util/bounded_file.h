#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace heartbeat_exporter::detail {

// Owns a file descriptor and closes it.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor();
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
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
    kOpenFailed,      // open() failed; error holds errno
    kStatFailed,      // fstat() failed; error holds errno
    kNotRegularFile,  // FIFO, device, socket, directory
    kTooLarge,        // more than max_bytes, by fstat or by what read() returned
    kReadFailed,      // read() failed; error holds errno
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

// The system's text for an errno value; unlike strerror, safe from several threads.
std::string error_text(int error);

}  // namespace heartbeat_exporter::detail
