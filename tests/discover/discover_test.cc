#include "discover/discover.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace heartbeat_exporter {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::vector<std::string> keys_of(const Discovery& discovery) {
  std::vector<std::string> keys;
  for (const auto& process : discovery.processes) keys.push_back(process.key);
  return keys;
}

HeartbeatDirConfig folder(const fs::path& path) {
  return HeartbeatDirConfig{.path = path, .timeout_seconds = 60, .check_pid = true, .labels = {}};
}

ProcessConfig configured(std::string key, const fs::path& path) {
  return ProcessConfig{.key = std::move(key),
                       .heartbeat_path = path,
                       .timeout_seconds = 30,
                       .check_pid = true,
                       .labels = {{"source", "config"}}};
}

TEST_CASE(
    "every .json file directly in a heartbeat folder is a process with the folder's settings") {
  TempDir dir;
  dir.write("workers/alpha.json", "{}");
  dir.write("workers/beta.json", "");
  Config config;
  auto schedule = std::make_shared<const Schedule>(*parse_cron("@daily").cron,
                                                   find_time_zone("Europe/Berlin").zone);
  config.heartbeat_dirs.push_back(HeartbeatDirConfig{.path = dir / "workers",
                                                     .timeout_seconds = 12.5,
                                                     .check_pid = false,
                                                     .labels = {{"team", "batch"}},
                                                     .schedule = schedule,
                                                     .grace_seconds = 90});

  auto discovery = discover_processes(config);

  CHECK(discovery.errors.empty());
  REQUIRE(discovery.processes.size() == 2);
  const auto& alpha = discovery.processes[0];
  CHECK(alpha.key == "alpha");
  CHECK(alpha.heartbeat_path == dir / "workers/alpha.json");
  CHECK(alpha.timeout_seconds == 12.5);
  CHECK_FALSE(alpha.check_pid);
  CHECK(alpha.labels == Labels{{"team", "batch"}});
  CHECK(alpha.schedule == schedule);
  CHECK(alpha.grace_seconds == 90);
  CHECK(discovery.processes[1].key == "beta");
  CHECK(discovery.processes[1].heartbeat_path == dir / "workers/beta.json");
}

TEST_CASE("configured processes alone are returned as they are when there are no folders") {
  Config config;
  config.processes = {configured("a", "/hb/a.json"), configured("b", "/hb/b.json")};
  auto discovery = discover_processes(config);
  CHECK(discovery.errors.empty());
  CHECK(keys_of(discovery) == std::vector<std::string>{"a", "b"});
  CHECK(discovery.processes[0].heartbeat_path == fs::path("/hb/a.json"));
  CHECK(discovery.processes[0].timeout_seconds == 30);
  CHECK(discovery.processes[0].labels == Labels{{"source", "config"}});
}

TEST_CASE("an empty config discovers nothing and reports nothing") {
  auto discovery = discover_processes(Config{});
  CHECK(discovery.processes.empty());
  CHECK(discovery.errors.empty());
}

TEST_CASE("dotfiles, non-.json files and \".json\" alone are skipped") {
  TempDir dir;
  dir.write("w/kept.json", "");
  dir.write("w/.kept.json.tmp123", "");
  dir.write("w/.hidden.json", "");
  dir.write("w/.json", "");
  dir.write("w/notes.txt", "");
  dir.write("w/old.json.bak", "");
  dir.write("w/upper.JSON", "");
  dir.write("w/json", "");
  dir.write("w/xjson", "");
  Config config;
  config.heartbeat_dirs.push_back(folder(dir / "w"));

  auto discovery = discover_processes(config);

  CHECK(discovery.errors.empty());
  CHECK(keys_of(discovery) == std::vector<std::string>{"kept"});
}

TEST_CASE("files in subfolders are not discovered, only files directly in the folder") {
  TempDir dir;
  dir.write("w/top.json", "");
  dir.write("w/sub/nested.json", "");
  Config config;
  config.heartbeat_dirs.push_back(folder(dir / "w"));

  CHECK(keys_of(discover_processes(config)) == std::vector<std::string>{"top"});
}

TEST_CASE("a folder or FIFO named x.json is still a process: the reader decides what it is") {
  TempDir dir;
  fs::create_directories(dir / "w/folder.json");
  REQUIRE(::mkfifo((dir / "w/fifo.json").c_str(), 0600) == 0);
  Config config;
  config.heartbeat_dirs.push_back(folder(dir / "w"));

  auto discovery = discover_processes(config);

  CHECK(keys_of(discovery) == std::vector<std::string>{"fifo", "folder"});
  CHECK(discovery.processes[0].heartbeat_path == dir / "w/fifo.json");
}

TEST_CASE("a configured process wins over a discovered file with the same key") {
  TempDir dir;
  dir.write("w/shared.json", "");
  dir.write("w/other.json", "");
  Config config;
  config.processes = {configured("shared", "/elsewhere/shared.json")};
  config.heartbeat_dirs.push_back(folder(dir / "w"));

  auto discovery = discover_processes(config);

  REQUIRE(keys_of(discovery) == std::vector<std::string>{"other", "shared"});
  const auto& shared = discovery.processes[1];
  CHECK(shared.heartbeat_path == fs::path("/elsewhere/shared.json"));
  CHECK(shared.timeout_seconds == 30);
  CHECK(shared.labels == Labels{{"source", "config"}});
}

TEST_CASE("an earlier heartbeat folder wins over a later one") {
  TempDir dir;
  dir.write("first/shared.json", "");
  dir.write("second/shared.json", "");
  dir.write("second/only_second.json", "");
  Config config;
  auto first = folder(dir / "first");
  first.labels = {{"from", "first"}};
  auto second = folder(dir / "second");
  second.labels = {{"from", "second"}};
  config.heartbeat_dirs = {first, second};

  auto discovery = discover_processes(config);

  REQUIRE(keys_of(discovery) == std::vector<std::string>{"only_second", "shared"});
  CHECK(discovery.processes[1].heartbeat_path == dir / "first/shared.json");
  CHECK(discovery.processes[1].labels == Labels{{"from", "first"}});
  CHECK(discovery.processes[0].labels == Labels{{"from", "second"}});
}

// Enough duplicated keys that std::sort is no longer an insertion sort (it is up to 16 elements
// in libstdc++), so that only a stable sort keeps the order in which equal keys were found.
constexpr int kManyKeys = 60;

std::string many_key(int i) { return "p" + std::string(i < 10 ? "0" : "") + std::to_string(i); }

TEST_CASE("a configured process wins over a discovered file for each of many duplicated keys") {
  TempDir dir;
  Config config;
  for (int i = 0; i < kManyKeys; ++i) {
    dir.write("w/" + many_key(i) + ".json", "");
    config.processes.push_back(configured(many_key(i), "/elsewhere/" + many_key(i) + ".json"));
  }
  config.heartbeat_dirs.push_back(folder(dir / "w"));

  auto discovery = discover_processes(config);

  REQUIRE(discovery.processes.size() == kManyKeys);
  for (int i = 0; i < kManyKeys; ++i) {
    const auto& process = discovery.processes[static_cast<std::size_t>(i)];
    INFO(process.key);
    CHECK(process.key == many_key(i));
    CHECK(process.heartbeat_path == "/elsewhere/" + many_key(i) + ".json");
  }
}

TEST_CASE("an earlier heartbeat folder wins over a later one for each of many duplicated keys") {
  TempDir dir;
  for (int i = 0; i < kManyKeys; ++i) {
    for (auto name : {"first", "second", "third"}) {
      dir.write(std::string(name) + "/" + many_key(i) + ".json", "");
    }
  }
  Config config;
  config.heartbeat_dirs = {folder(dir / "first"), folder(dir / "second"), folder(dir / "third")};

  auto discovery = discover_processes(config);

  REQUIRE(discovery.processes.size() == kManyKeys);
  for (int i = 0; i < kManyKeys; ++i) {
    const auto& process = discovery.processes[static_cast<std::size_t>(i)];
    INFO(process.key);
    CHECK(process.key == many_key(i));
    CHECK(process.heartbeat_path == dir / "first" / (many_key(i) + ".json"));
  }
}

TEST_CASE("a folder that cannot be listed adds one error line and the rest is still returned") {
  TempDir dir;
  dir.write("good/found.json", "");
  auto not_a_folder = dir.write("file.json", "");
  Config config;
  config.processes = {configured("configured", "/hb/configured.json")};
  config.heartbeat_dirs = {folder(dir / "missing"), folder(dir / "good"), folder(not_a_folder)};

  auto discovery = discover_processes(config);

  CHECK(keys_of(discovery) == std::vector<std::string>{"configured", "found"});
  CHECK(discovery.errors ==
        std::vector<std::string>{
            "cannot list heartbeat folder \"" + (dir / "missing").string() +
                "\": No such file or directory",
            "cannot list heartbeat folder \"" + not_a_folder.string() + "\": Not a directory"});
}

TEST_CASE("folders are listed afresh on every call") {
  TempDir dir;
  dir.write("w/a.json", "");
  Config config;
  config.heartbeat_dirs.push_back(folder(dir / "w"));
  CHECK(keys_of(discover_processes(config)) == std::vector<std::string>{"a"});

  dir.write("w/b.json", "");
  CHECK(keys_of(discover_processes(config)) == std::vector<std::string>{"a", "b"});

  fs::remove(dir / "w/a.json");
  CHECK(keys_of(discover_processes(config)) == std::vector<std::string>{"b"});
}

TEST_CASE("configured and discovered processes come out sorted by key, keys unique") {
  TempDir dir;
  for (auto name : {"zeta.json", "Beta.json", "m.json", "alpha.json"})
    dir.write("w/" + std::string(name), "");
  dir.write("v/m.json", "");
  dir.write("v/b.json", "");
  Config config;
  config.processes = {configured("c", "/hb/c.json"), configured("y", "/hb/y.json")};
  config.heartbeat_dirs = {folder(dir / "w"), folder(dir / "v")};

  CHECK(keys_of(discover_processes(config)) ==
        std::vector<std::string>{"Beta", "alpha", "b", "c", "m", "y", "zeta"});
}

}  // namespace
}  // namespace heartbeat_exporter

namespace heartbeat_exporter {
namespace {

TEST_CASE("a file whose name is not UTF-8 is skipped with an error, the rest are kept") {
  TempDir dir;
  dir.write("hb/good.json", "{}");
  dir.write("hb/caf\xe9.json", "{}");      // Latin-1 e-acute: not UTF-8
  dir.write("hb/caf\xc3\xa9.json", "{}");  // the same in UTF-8
  dir.write("hb/cut\xe2\x9c.json", "{}");  // a truncated three-byte sequence
  Config config;
  config.heartbeat_dirs.push_back(folder(dir / "hb"));

  auto discovery = discover_processes(config);

  CHECK(keys_of(discovery) == std::vector<std::string>{"caf\xc3\xa9", "good"});
  auto skipped = [&](const std::string& escaped_name) {
    return "skipping heartbeat file \"" + escaped_name + "\" in \"" + (dir / "hb").string() +
           "\": its name is not valid UTF-8";
  };
  auto errors = discovery.errors;
  std::sort(errors.begin(), errors.end());
  CHECK(errors ==
        std::vector<std::string>{skipped("caf\\xe9.json"), skipped("cut\\xe2\\x9c.json")});
}

}  // namespace
}  // namespace heartbeat_exporter

namespace heartbeat_exporter {
namespace {

TEST_CASE(
    "a discovered file is read by name relative to its open folder, without following "
    "symlinks unless the folder says so, and a configured path is followed as a path") {
  TempDir dir;
  dir.write("plain/a.json", "");
  dir.write("links/b.json", "");
  Config config;
  config.processes = {configured("c", "/hb/c.json")};
  auto links = folder(dir / "links");
  links.follow_symlinks = true;
  config.heartbeat_dirs = {folder(dir / "plain"), links};

  const auto discovery = discover_processes(config);

  REQUIRE(keys_of(discovery) == std::vector<std::string>{"a", "b", "c"});
  REQUIRE(discovery.sources.size() == 3);
  REQUIRE(discovery.open_folders.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& source = discovery.sources[i];
    const auto& path = discovery.processes[i].heartbeat_path.native();
    CHECK(source.dir_fd == discovery.open_folders[i].get());
    CHECK(path.substr(source.name_offset) == discovery.processes[i].key + ".json");
    struct stat by_fd {
    }, by_path{};
    REQUIRE(::fstat(source.dir_fd, &by_fd) == 0);
    REQUIRE(::stat(discovery.processes[i].heartbeat_path.parent_path().c_str(), &by_path) == 0);
    CHECK(by_fd.st_ino == by_path.st_ino);
  }
  CHECK_FALSE(discovery.sources[0].follow_symlinks);
  CHECK(discovery.sources[1].follow_symlinks);
  CHECK(discovery.sources[2].dir_fd == AT_FDCWD);
  CHECK(discovery.sources[2].name_offset == 0);
  CHECK(discovery.sources[2].follow_symlinks);
}

TEST_CASE(
    "a folder with more heartbeat files than max_files yields max_files of them and is "
    "marked truncated, counting names that are skipped too") {
  TempDir dir;
  for (int i = 0; i < 10; ++i) dir.write("big/p" + std::to_string(i) + ".json", "");
  for (int i = 0; i < 10; ++i) dir.write("big/.tmp" + std::to_string(i) + ".json", "");
  for (int i = 0; i < 4; ++i) dir.write("exact/q" + std::to_string(i) + ".json", "");
  for (int i = 0; i < 10; ++i) dir.write("bad/r\xff" + std::to_string(i) + ".json", "");
  Config config;
  auto big = folder(dir / "big");
  big.max_files = 4;
  auto exact = folder(dir / "exact");
  exact.max_files = 4;
  auto bad = folder(dir / "bad");
  bad.max_files = 3;
  config.heartbeat_dirs = {big, exact, bad, folder(dir / "missing")};

  const auto discovery = discover_processes(config);

  CHECK(discovery.processes.size() == 8);
  CHECK(discovery.errors.size() == 3 + 1);  // three of the bad names, and the missing folder
  REQUIRE(discovery.folders.size() == 4);
  CHECK(discovery.folders[0].path == dir / "big");
  CHECK(discovery.folders[0].max_files == 4);
  CHECK(discovery.folders[0].truncated);
  CHECK_FALSE(discovery.folders[1].truncated);
  CHECK(discovery.folders[2].truncated);
  CHECK_FALSE(discovery.folders[3].truncated);
}

}  // namespace
}  // namespace heartbeat_exporter
