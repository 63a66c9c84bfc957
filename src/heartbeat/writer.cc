#include "heartbeat_exporter/writer.h"

#include <fcntl.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <stdexcept>
#include <system_error>

#include "util/text.h"

namespace heartbeat_exporter {
namespace {

constexpr std::size_t kMaxProcessKeyLength = 128;

using detail::quoted;

void require_valid_key(std::string_view key) {
  if (!is_valid_process_key(key)) {
    throw std::invalid_argument("invalid process key \"" + std::string(key) +
                                "\": expected [A-Za-z0-9_.-]{1,128} not starting with \".\"");
  }
}

bool is_key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// Validating on output keeps invalid UTF-8 out of the file: the reader would reject it.
using JsonWriter =
    rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::UTF8<>,
                      rapidjson::CrtAllocator, rapidjson::kWriteValidateEncodingFlag>;

void write_string(JsonWriter& writer, std::string_view field, std::string_view value) {
  if (!writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()))) {
    throw std::invalid_argument("serializing heartbeat: field \"" + std::string(field) +
                                "\" is not valid UTF-8");
  }
}

// Closes the temp file's descriptor and removes the temp file unless the rename succeeded, so
// that a failed write leaves neither an fd nor a stray file behind.
class TempFile {
 public:
  TempFile(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  int fd() const { return fd_; }
  const std::filesystem::path& path() const { return path_; }

  // Returns the close() result; the fd is gone either way, so it must not be closed again.
  int close() {
    const int result = ::close(fd_);
    fd_ = -1;
    return result;
  }
  void commit() { committed_ = true; }

 private:
  std::filesystem::path path_;
  int fd_;
  bool committed_ = false;
};

[[noreturn]] void throw_write_error(const std::filesystem::path& target, std::string_view step,
                                    int error) {
  throw std::system_error(
      error, std::generic_category(),
      "writing heartbeat file " + quoted(target) + " (" + std::string(step) + ")");
}

// A temp name unique within this process; O_EXCL guards against a leftover from a crashed
// process that had the same pid, in which case the next counter value is tried.
TempFile create_temp_file(const std::filesystem::path& dir, std::string_view key,
                          const std::filesystem::path& target) {
  static std::atomic<std::uint64_t> counter{0};
  constexpr int kAttempts = 100;
  int error = 0;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const std::string name = "." + std::string(key) + ".json." + std::to_string(::getpid()) + "." +
                             std::to_string(counter++) + ".tmp";
    auto path = dir / name;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) return TempFile(std::move(path), fd);
    error = errno;
    if (error != EEXIST) break;
  }
  throw_write_error(target, "creating temp file", error);
}

void write_all(int fd, std::string_view content, const std::filesystem::path& target) {
  while (!content.empty()) {
    const ssize_t written = ::write(fd, content.data(), content.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      throw_write_error(target, "write", errno);
    }
    content.remove_prefix(static_cast<std::size_t>(written));
  }
}

}  // namespace

bool is_valid_process_key(std::string_view key) {
  if (key.empty() || key.size() > kMaxProcessKeyLength || key.front() == '.') return false;
  for (const char c : key) {
    if (!is_key_char(c)) return false;
  }
  return true;
}

std::filesystem::path heartbeat_file_path(const std::filesystem::path& dir, std::string_view key) {
  return dir / (std::string(key) + ".json");
}

std::string serialize_heartbeat(const HeartbeatData& data) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  if (data.process_key) {
    writer.Key("process_key");
    write_string(writer, "process_key", *data.process_key);
  }
  writer.Key("pid");
  writer.Int64(data.pid);
  writer.Key("timestamp");
  write_string(writer, "timestamp", format_timestamp(data.timestamp));
  writer.Key("status");
  write_string(writer, "status", data.status);
  if (data.iteration) {
    writer.Key("iteration");
    writer.Uint64(*data.iteration);
  }
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

void write_heartbeat_file(const std::filesystem::path& dir, std::string_view key,
                          const HeartbeatData& data) {
  require_valid_key(key);
  const auto target = heartbeat_file_path(dir, key);
  const std::string content = serialize_heartbeat(data);

  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) throw std::system_error(error, "creating heartbeat folder " + quoted(dir));

  // No fsync: rename() already gives readers an all-or-nothing view, a liveness signal does not
  // need to survive power loss, and an fsync per beat would slow down writers that beat often.
  TempFile temp = create_temp_file(dir, key, target);
  write_all(temp.fd(), content, target);
  if (temp.close() != 0) throw_write_error(target, "close", errno);
  if (::rename(temp.path().c_str(), target.c_str()) != 0) {
    throw_write_error(target, "rename", errno);
  }
  temp.commit();
}

void remove_heartbeat_file(const std::filesystem::path& dir, std::string_view key) {
  require_valid_key(key);
  const auto target = heartbeat_file_path(dir, key);
  if (::unlink(target.c_str()) != 0 && errno != ENOENT) {
    throw std::system_error(errno, std::generic_category(),
                            "removing heartbeat file " + quoted(target));
  }
}

HeartbeatWriter::HeartbeatWriter(std::filesystem::path heartbeat_dir, std::string process_key)
    : dir_(std::move(heartbeat_dir)), process_key_(std::move(process_key)) {
  require_valid_key(process_key_);
  path_ = heartbeat_file_path(dir_, process_key_);
}

void HeartbeatWriter::beat() { beat("running"); }

void HeartbeatWriter::beat(std::string_view status) {
  std::lock_guard lock(mutex_);
  // Read under the lock so that a later iteration never carries an earlier time.
  const auto now = std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
  const std::uint64_t next = iteration_ + 1;
  HeartbeatData data{process_key_, ::getpid(), now, std::string(status), next};
  write_heartbeat_file(dir_, process_key_, data);
  // Committed only after the write, so a failed beat does not leave a gap in the sequence.
  iteration_ = next;
}

void HeartbeatWriter::stop() {
  std::lock_guard lock(mutex_);
  remove_heartbeat_file(dir_, process_key_);
}

std::uint64_t HeartbeatWriter::iteration() const {
  std::lock_guard lock(mutex_);
  return iteration_;
}

}  // namespace heartbeat_exporter
