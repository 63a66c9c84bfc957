#pragma once

// The clock, process table and heartbeat reads the tests judge with: they never sleep and never
// look at /proc. A fake that only one test needs (a clock with a side effect, a table that blocks)
// stays beside that test.

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "check/process_table.h"
#include "heartbeat_exporter/reader.h"
#include "heartbeat_exporter/timestamp.h"

namespace heartbeat_exporter::testing {

// Tells the time in `time`; a test moves time by assigning to it.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(Timestamp start) : time(start) {}
  Timestamp now() const override { return time; }

  Timestamp time;
};

// Answers from `by_pid`, and `otherwise` for every other pid. It records nothing, so several
// threads may ask at once as long as no one changes the fields meanwhile.
class FakeProcessTable final : public ProcessTable {
 public:
  // Every pid gets `answer`: gone with no start time unless told otherwise.
  explicit FakeProcessTable(ProcessInfo answer = {}) : otherwise(answer) {}
  // The pids in `answers` get theirs, every other pid is gone.
  explicit FakeProcessTable(std::map<std::int64_t, ProcessInfo> answers)
      : by_pid(std::move(answers)) {}

  ProcessInfo lookup(std::int64_t pid) const override {
    auto it = by_pid.find(pid);
    return it == by_pid.end() ? otherwise : it->second;
  }
  PidNamespaceView pid_namespaces() const override { return namespaces; }
  // Pids of other namespaces get theirs from `by_namespaced_pid`; every other one is gone.
  std::vector<ProcessInfo> lookup_namespaced(std::span<const NamespacedPid> pids) const override {
    std::vector<ProcessInfo> infos;
    for (const auto& key : pids) {
      auto it = by_namespaced_pid.find(key);
      infos.push_back(it == by_namespaced_pid.end() ? ProcessInfo{} : it->second);
    }
    return infos;
  }

  std::map<std::int64_t, ProcessInfo> by_pid;
  ProcessInfo otherwise;
  PidNamespaceView namespaces;  // none known, as the ProcessTable default
  std::map<NamespacedPid, ProcessInfo> by_namespaced_pid;
};

// A successful read of a heartbeat with these fields and no iteration.
inline ReadResult heartbeat_read(std::string key, std::int64_t pid, Timestamp timestamp,
                                 std::string status = "running") {
  HeartbeatData data;
  data.process_key = std::move(key);
  data.pid = pid;
  data.timestamp = timestamp;
  data.status = std::move(status);
  return ReadResult::success(std::move(data));
}

// Every pid is alive and its start time unknown (as under hidepid), so no heartbeat is stale.
inline FakeProcessTable everything_alive() {
  return FakeProcessTable(ProcessInfo{Liveness::kAlive, std::nullopt});
}

}  // namespace heartbeat_exporter::testing
