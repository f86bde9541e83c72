// ThreadPool: a fixed set of threads running closures from a bounded queue.
//
//   ThreadPool pool(/*threads=*/2, /*capacity=*/256);
//   if (!pool.TrySchedule([] { HeavyTorchWork(); })) { /* answer RESOURCE_EXHAUSTED */ }
//
// Keeps torch work off gRPC's threads. TrySchedule never blocks: it returns
// false when the queue is full or the pool is stopping. Stop (and the
// destructor) runs what is queued, then joins. Thread-safe. (Abseil keeps its pool internal and
// Boost.Asio's pool has no bounded queue, hence this small class.)
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace hybrid::server {

class ThreadPool {
 public:
  ThreadPool(int threads, size_t capacity);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  bool TrySchedule(std::function<void()> work);
  // Refuses new work, runs what is queued, joins. Idempotent; not from a pool thread.
  void Stop();
  size_t queued() const;
  int threads() const { return static_cast<int>(threads_.size()); }
  size_t capacity() const { return capacity_; }

 private:
  void Run();

  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace hybrid::server
