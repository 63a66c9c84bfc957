#pragma once

#include <cstdint>
#include <exception>
#include <future>
#include <mutex>
#include <optional>
#include <utility>

namespace heartbeat_exporter {

// Lets calls that arrive while a computation is in flight wait for it and share its result
// instead of starting one of their own, as Go's singleflight does: scrapes arriving together
// (an HA pair of Prometheus servers) share one collection. Thread-safe.
template <typename T>
class SingleFlight {
 public:
  // Runs compute() unless another call's run is in flight, in which case it waits for that one
  // and returns its result (or rethrows what it threw).
  template <typename Compute>
  T run(const Compute& compute) {
    std::unique_lock lock(mutex_);
    if (in_flight_) {
      auto shared = *in_flight_;
      ++shared_;
      lock.unlock();
      return shared.get();
    }
    std::promise<T> promise;
    in_flight_ = promise.get_future().share();
    lock.unlock();

    try {
      promise.set_value(compute());
    } catch (...) {
      promise.set_exception(std::current_exception());
    }
    lock.lock();
    auto finished = std::move(*in_flight_);
    in_flight_.reset();
    lock.unlock();
    return finished.get();
  }

  // How many run() calls were answered by a computation another call had started.
  std::uint64_t shared() const {
    std::lock_guard lock(mutex_);
    return shared_;
  }

 private:
  // Guards in_flight_, which is set exactly while one computation runs, and the count.
  mutable std::mutex mutex_;
  std::optional<std::shared_future<T>> in_flight_;
  std::uint64_t shared_ = 0;
};

}  // namespace heartbeat_exporter
