#include "heartbeat_exporter/writer.h"

#include <fcntl.h>
#include <linux/limits.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "heartbeat/reader_detail.h"
#include "heartbeat/writer_detail.h"
#include "util/proc_stat.h"
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

// "S.ffffff": seconds to the microsecond, as the Python writer writes them too.
std::string format_duration(std::chrono::microseconds duration) {
  if (duration.count() < 0 ||
      duration > std::chrono::microseconds(static_cast<std::int64_t>(kMaxDurationSeconds * 1e6))) {
    throw std::invalid_argument(
        "serializing heartbeat: field \"duration_seconds\" is outside 0..1e9");
  }
  const std::string fraction = std::to_string(duration.count() % 1000000);
  return std::to_string(duration.count() / 1000000) + "." + std::string(6 - fraction.size(), '0') +
         fraction;
}

void write_run_fields(JsonWriter& writer, const HeartbeatData& data) {
  if (data.exit_code) {
    if (*data.exit_code < 0 || *data.exit_code > kMaxExitCode) {
      throw std::invalid_argument("serializing heartbeat: field \"exit_code\" is outside 0..255");
    }
    writer.Key("exit_code");
    writer.Int(*data.exit_code);
  }
  if (data.started_at) {
    writer.Key("started_at");
    write_string(writer, "started_at", format_timestamp(*data.started_at));
  }
  if (data.duration) {
    const std::string seconds = format_duration(*data.duration);
    writer.Key("duration_seconds");
    writer.RawValue(seconds.data(), seconds.size(), rapidjson::kNumberType);
  }
  if (data.last_success) {
    writer.Key("last_success");
    write_string(writer, "last_success", format_timestamp(*data.last_success));
  }
}

[[noreturn]] void throw_write_error(const std::filesystem::path& target, std::string_view step,
                                    int error) {
  throw std::system_error(
      error, std::generic_category(),
      "writing heartbeat file " + quoted(target) + " (" + std::string(step) + ")");
}

// Closes the temp file's descriptor and removes the temp file unless the rename succeeded, so
// that a failed write leaves neither an fd nor a stray file behind.
class TempFile {
 public:
  TempFile(int dir_fd, std::string name, int fd)
      : dir_fd_(dir_fd), name_(std::move(name)), fd_(fd) {}
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlinkat(dir_fd_, name_.c_str(), 0);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }

  // Returns the close() result; the fd is gone either way, so it must not be closed again.
  int close() {
    const int result = ::close(fd_);
    fd_ = -1;
    return result;
  }
  void commit() { committed_ = true; }

 private:
  int dir_fd_;
  std::string name_;
  int fd_;
  bool committed_ = false;
};

// 64 random bits as 16 hex digits: a temp name nobody can guess, so that names planted in the
// folder beforehand (symlinks, files) cannot make a beat fail or write elsewhere.
std::string random_hex(const std::filesystem::path& target) {
  std::uint64_t bits = 0;
  while (::getrandom(&bits, sizeof bits, 0) != static_cast<ssize_t>(sizeof bits)) {
    if (errno != EINTR) throw_write_error(target, "choosing a temp name", errno);
  }
  std::string out;
  for (int shift = 60; shift >= 0; shift -= 4) {
    out += "0123456789abcdef"[(bits >> shift) & 0xf];
  }
  return out;
}

// O_EXCL (which also never follows a symlink) guards against the rare collision, in which case
// another name is drawn.
TempFile create_temp_file(int dir_fd, std::string_view key, const std::filesystem::path& target) {
  constexpr int kAttempts = 100;
  int error = 0;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    std::string name = "." + std::string(key) + ".json." + random_hex(target) + ".tmp";
    const int fd =
        ::openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0) return TempFile(dir_fd, std::move(name), fd);
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

std::string file_name(std::string_view key) { return std::string(key) + ".json"; }

// No fsync: rename() already gives readers an all-or-nothing view, a liveness signal does not
// need to survive power loss, and an fsync per beat would slow down writers that beat often.
void write_content(int dir_fd, const std::filesystem::path& dir, std::string_view key,
                   std::string_view content) {
  const auto target = heartbeat_file_path(dir, key);
  TempFile temp = create_temp_file(dir_fd, key, target);
  write_all(temp.fd(), content, target);
  if (temp.close() != 0) throw_write_error(target, "close", errno);
  if (::renameat(dir_fd, temp.name().c_str(), dir_fd, file_name(key).c_str()) != 0) {
    throw_write_error(target, "rename", errno);
  }
  temp.commit();
}

// The rule of systemd's chase() with CHASE_SAFE: stepping from what root owns is always safe;
// from what another user owns, only to what that same user owns.
bool unsafe_transition(const struct stat& from, const struct stat& to) {
  return from.st_uid != 0 && from.st_uid != to.st_uid;
}

std::string owner(const struct stat& info) { return "uid " + std::to_string(info.st_uid); }

std::filesystem::path joined(const std::filesystem::path& at, const std::string& name) {
  return name == ".." ? at.parent_path() : at / name;
}

// The components of a path, in order, without empty ones and ".".
std::deque<std::string> components(const std::filesystem::path& path) {
  std::deque<std::string> out;
  for (const auto& part : path.relative_path()) {
    if (!part.empty() && part != ".") out.push_back(part.string());
  }
  return out;
}

std::string read_link(int link_fd) {
  std::string target(PATH_MAX, '\0');
  // An empty name reads the link that an O_PATH | O_NOFOLLOW descriptor stands for.
  const ssize_t got = ::readlinkat(link_fd, "", target.data(), target.size());
  if (got < 0) return {};
  target.resize(static_cast<std::size_t>(got));
  return target;
}

// HeartbeatWriter takes it under its lock, so that a later iteration never has an earlier time.
Timestamp now_to_the_microsecond() {
  return std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
}

}  // namespace

namespace detail {

HeartbeatFolder HeartbeatFolder::open(const std::filesystem::path& dir, Missing missing) {
  const std::string what =
      (missing == Missing::kCreate ? "creating heartbeat folder " : "opening heartbeat folder ") +
      quoted(dir);
  auto fail = [&](int error) { throw std::system_error(error, std::generic_category(), what); };
  auto refuse = [&](const std::filesystem::path& from, const struct stat& from_info,
                    const std::filesystem::path& to, const struct stat& to_info) {
    throw std::system_error(EPERM, std::generic_category(),
                            "refusing heartbeat folder " + quoted(dir) +
                                ": unsafe path transition from " + quoted(from) + " (" +
                                owner(from_info) + ") to " + quoted(to) + " (" + owner(to_info) +
                                "); a user other than root decides where it leads");
  };
  // Only root is at risk: a user can be led only where that user may write anyway.
  const bool check = ::geteuid() == 0;
  std::error_code error;
  const std::filesystem::path absolute = std::filesystem::absolute(dir, error);
  if (error) throw std::system_error(error, what);

  auto open_root = [&](struct stat& info) {
    FileDescriptor root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (root.get() < 0 || ::fstat(root.get(), &info) != 0) fail(errno);
    return root;
  };
  struct stat at_info {};
  FileDescriptor at = open_root(at_info);
  std::filesystem::path at_path = "/";
  // Set after a symlink: what the next step comes from, for the transition check.
  std::optional<std::pair<std::filesystem::path, struct stat>> link;
  std::deque<std::string> todo = components(absolute);
  int links_left = 40;  // as the kernel's MAXSYMLINKS
  while (!todo.empty()) {
    const std::string name = std::move(todo.front());
    todo.pop_front();
    const int flags = O_PATH | O_NOFOLLOW | O_CLOEXEC | (name == ".." ? O_DIRECTORY : 0);
    FileDescriptor child(::openat(at.get(), name.c_str(), flags));
    if (child.get() < 0 && errno == ENOENT && missing == Missing::kCreate) {
      if (::mkdirat(at.get(), name.c_str(), 0777) != 0 && errno != EEXIST) fail(errno);
      child = FileDescriptor(::openat(at.get(), name.c_str(), flags));
    }
    struct stat info {};
    if (child.get() < 0 || ::fstat(child.get(), &info) != 0) fail(errno);
    const std::filesystem::path child_path = joined(at_path, name);
    // A folder reached by name is held by its descriptor from here on and cannot be swapped;
    // a link and ".." can lead out of where the path names, so those steps are checked.
    if (check && link && unsafe_transition(link->second, info)) {
      refuse(link->first, link->second, child_path, info);
    }
    if (check && !link && (S_ISLNK(info.st_mode) || name == "..") &&
        unsafe_transition(at_info, info)) {
      refuse(at_path, at_info, child_path, info);
    }
    link.reset();
    if (S_ISLNK(info.st_mode)) {
      if (--links_left == 0) fail(ELOOP);
      const std::string target = read_link(child.get());
      if (target.empty()) fail(errno != 0 ? errno : EINVAL);
      std::deque<std::string> more = components(target);
      todo.insert(todo.begin(), more.begin(), more.end());
      if (target.front() == '/') {
        struct stat root_info {};
        at = open_root(root_info);
        if (check && unsafe_transition(info, root_info)) refuse(child_path, info, "/", root_info);
        at_info = root_info;
        at_path = "/";
      } else {
        link.emplace(child_path, info);
      }
      continue;
    }
    if (!S_ISDIR(info.st_mode)) fail(ENOTDIR);
    at = std::move(child);
    at_info = info;
    at_path = child_path;
  }
  return HeartbeatFolder(std::move(at), dir);
}

void HeartbeatFolder::write(std::string_view key, const HeartbeatData& data) const {
  require_valid_key(key);
  write_content(fd(), path_, key, serialize_heartbeat(data));
}

void HeartbeatFolder::remove(std::string_view key) const {
  require_valid_key(key);
  if (::unlinkat(fd(), file_name(key).c_str(), 0) != 0 && errno != ENOENT) {
    throw std::system_error(errno, std::generic_category(),
                            "removing heartbeat file " + quoted(heartbeat_file_path(path_, key)));
  }
}

ReadResult HeartbeatFolder::read(std::string_view key) const {
  require_valid_key(key);
  const std::string name = file_name(key);
  return read_heartbeat({fd(), name.c_str(), Symlinks::kRefuse, heartbeat_file_path(path_, key)},
                        nullptr);
}

JobRun JobRun::start(const ReadResult& previous) {
  JobRun run{now_to_the_microsecond(), std::chrono::steady_clock::now(), std::nullopt};
  if (previous.ok()) run.last_success = previous.heartbeat->last_success;
  return run;
}

void JobRun::add_to(HeartbeatData& data) const {
  data.started_at = started_at;
  data.last_success = last_success;
}

void JobRun::finish(HeartbeatData& data, int exit_code,
                    std::chrono::steady_clock::time_point ended) const {
  if (exit_code < 0 || exit_code > kMaxExitCode) {
    throw std::invalid_argument("exit code " + std::to_string(exit_code) + " is outside 0..255");
  }
  const bool succeeded = exit_code == 0;
  data.status = succeeded ? kStatusCompleted : kStatusFailed;
  data.exit_code = exit_code;
  data.started_at = started_at;
  constexpr auto kLongest =
      std::chrono::microseconds(static_cast<std::int64_t>(kMaxDurationSeconds * 1e6));
  data.duration =
      std::min(std::chrono::floor<std::chrono::microseconds>(ended - started), kLongest);
  data.last_success = succeeded ? std::optional(started_at) : last_success;
}

}  // namespace detail

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
  if (data.pid_namespace) {
    writer.Key("pid_namespace");
    writer.Uint64(*data.pid_namespace);
  }
  if (data.start_ticks) {
    writer.Key("start_ticks");
    writer.Uint64(*data.start_ticks);
  }
  write_run_fields(writer, data);
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

void write_heartbeat_file(const std::filesystem::path& dir, std::string_view key,
                          const HeartbeatData& data) {
  require_valid_key(key);
  // Serialized first, so that a status that is not UTF-8 touches nothing on disk.
  const std::string content = serialize_heartbeat(data);
  const auto folder = detail::HeartbeatFolder::open(dir, detail::HeartbeatFolder::Missing::kCreate);
  write_content(folder.fd(), dir, key, content);
}

void remove_heartbeat_file(const std::filesystem::path& dir, std::string_view key) {
  require_valid_key(key);
  std::optional<detail::HeartbeatFolder> folder;
  try {
    folder.emplace(detail::HeartbeatFolder::open(dir, detail::HeartbeatFolder::Missing::kFail));
  } catch (const std::system_error& error) {
    // No folder, no heartbeat: already gone.
    if (error.code() == std::errc::no_such_file_or_directory) return;
    throw;
  }
  folder->remove(key);
}

HeartbeatWriter::HeartbeatWriter(std::filesystem::path heartbeat_dir, std::string process_key)
    : dir_(std::move(heartbeat_dir)), process_key_(std::move(process_key)) {
  require_valid_key(process_key_);
  path_ = heartbeat_file_path(dir_, process_key_);
}

HeartbeatWriter::~HeartbeatWriter() = default;

namespace {

// The calling process's pid namespace and start ticks, read from /proc/self once per process
// and thread: neither changes while the process lives. Kept with the pid it belongs to, so that
// the child of a fork() reads its own; a read that missed either field is tried again next time.
// (Per thread rather than behind a lock: a lock held by another thread at fork() would stay held
// in the child.)
detail::ProcessIdentity own_identity(pid_t pid) {
  thread_local pid_t cached_pid = 0;
  thread_local detail::ProcessIdentity cached;
  if (cached_pid != pid || !cached.pid_namespace || !cached.start_ticks) {
    cached = detail::read_process_identity("/proc/self");
    cached_pid = pid;
  }
  return cached;
}

// A heartbeat about the calling process.
HeartbeatData own_heartbeat(const std::string& key, Timestamp timestamp, std::string_view status,
                            std::uint64_t iteration) {
  const pid_t pid = ::getpid();
  HeartbeatData data{key, pid, timestamp, std::string(status), iteration};
  const detail::ProcessIdentity identity = own_identity(pid);
  data.pid_namespace = identity.pid_namespace;
  data.start_ticks = identity.start_ticks;
  return data;
}

}  // namespace

void HeartbeatWriter::beat() { beat("running"); }

void HeartbeatWriter::beat(std::string_view status) {
  std::lock_guard lock(mutex_);
  const std::uint64_t next = iteration_ + 1;
  HeartbeatData data = own_heartbeat(process_key_, now_to_the_microsecond(), status, next);
  if (run_) run_->add_to(data);
  write_heartbeat_file(dir_, process_key_, data);
  // Committed only after the write, so a failed beat does not leave a gap in the sequence.
  iteration_ = next;
}

void HeartbeatWriter::start_run() {
  std::lock_guard lock(mutex_);
  auto run = std::make_unique<detail::JobRun>(detail::JobRun::start(previous_heartbeat()));
  const std::uint64_t next = iteration_ + 1;
  HeartbeatData data = own_heartbeat(process_key_, run->started_at, "running", next);
  run->add_to(data);
  write_heartbeat_file(dir_, process_key_, data);
  run_ = std::move(run);
  iteration_ = next;
}

void HeartbeatWriter::finish_run(int exit_code) {
  const auto ended = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  if (!run_) throw std::logic_error("finish_run() without a run in progress (start_run())");
  const std::uint64_t next = iteration_ + 1;
  HeartbeatData data = own_heartbeat(process_key_, now_to_the_microsecond(), "", next);
  run_->finish(data, exit_code, ended);
  write_heartbeat_file(dir_, process_key_, data);
  run_.reset();
  iteration_ = next;
}

// A key whose folder cannot be opened has no previous heartbeat to carry anything from.
ReadResult HeartbeatWriter::previous_heartbeat() const {
  try {
    return detail::HeartbeatFolder::open(dir_, detail::HeartbeatFolder::Missing::kFail)
        .read(process_key_);
  } catch (const std::system_error& error) {
    return ReadResult::fail(ReadError::kUnreadable, error.what());
  }
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
