#pragma once

#include <algorithm>
#include <cstddef>
#include <system_error>
#include <thread>
#include <vector>

namespace heartbeat_exporter::detail {

// Runs job(i) for i in [0, count), job(0) on the calling thread and the others on threads of
// their own. A thread that cannot be started runs its job here instead, so that the result
// never depends on the system's thread limit.
template <typename Job>
void run_parallel(std::size_t count, const Job& job) {
  std::vector<std::thread> workers;
  workers.reserve(count > 0 ? count - 1 : 0);
  std::vector<std::size_t> inline_jobs;
  for (std::size_t i = 1; i < count; ++i) {
    try {
      workers.emplace_back([&job, i] { job(i); });
    } catch (const std::system_error&) {
      inline_jobs.push_back(i);
    }
  }
  if (count > 0) job(0);
  for (std::size_t i : inline_jobs) job(i);
  for (auto& worker : workers) worker.join();
}

// Splits [0, count) into `ranges` contiguous ranges of near-equal size and calls
// work(begin, end) for each, in parallel as run_parallel does. 0 ranges counts as 1.
template <typename Work>
void run_ranges(std::size_t count, std::size_t ranges, const Work& work) {
  ranges = std::max<std::size_t>(ranges, 1);
  run_parallel(ranges, [&](std::size_t range) {
    work(count * range / ranges, count * (range + 1) / ranges);
  });
}

}  // namespace heartbeat_exporter::detail
