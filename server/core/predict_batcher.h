// PredictBatcher: one model's queue of Predict requests, batched as Triton's
// dynamic batcher does it (model_config.proto, DynamicBatchingConfig).
//
//   PredictBatcher batcher(options, [&](absl::Span<const PredictQuery* const> group) {
//     return PredictTogetherOnSnapshot(*snapshot, config, space, group);   // one answer per query
//   });
//   if (!batcher.Submit(std::move(query), pool, keep_alive, done)) { /* RESOURCE_EXHAUSTED */ }
//
// Requests wait in arrival order. At most pool.threads() forecasts of this
// model run at once, each a pool task: it takes the oldest waiting request
// and — when merging — every later one that SharesForecast with it, up to
// max_batch_states initial states. Before that it holds the oldest request
// for companions until max_queue_delay after its arrival, or until
// preferred_batch_states wait. Requests that queue while forecasts run have
// waited already and merge without holding, so with max_queue_delay 0 a lone
// client pays no delay. A finished task hands the rest of the
// queue to a fresh pool task, so models sharing the pool take turns.
//
// Per request: a request whose interrupt (deadline, cancellation) fires
// before its batch starts is answered with that error and not forecast; one
// that fires during the batch gets its error instead of the answer (the
// batch goes on for the others); errors of validation are its own
// (PredictTogetherOnSnapshot). `done` runs once per accepted request, on a
// pool thread, with the answer and when its batch ran.
//
// Submit refuses (false; `done` never runs) when pool.capacity() requests
// already wait or the pool refuses work with nothing of this model running.
// `keep_alive` (the model) is held by every task until it ends. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "server/core/domain_types.h"
#include "server/core/thread_pool.h"

namespace hybrid::server {

class PredictBatcher {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    bool merge = false;  // false: every request is a forecast of its own.
    Clock::duration max_queue_delay{0};
    int64_t preferred_batch_states = 1;
    int64_t max_batch_states = 1;
  };
  struct Batch {                  // The forecast a request was answered by.
    Clock::time_point started{};  // Taken from the queue.
    Clock::time_point finished{};
    int64_t requests = 1;
    bool first = true;  // The batch's first request: counts the execution once.
  };
  using Done = std::function<void(absl::StatusOr<PredictAnswer>, const Batch&)>;
  // One answer per query, in order (PredictTogetherOnSnapshot).
  using Forecast = std::function<std::vector<absl::StatusOr<PredictAnswer>>(absl::Span<const PredictQuery* const>)>;

  PredictBatcher(Options options, Forecast forecast) : options_(options), forecast_(std::move(forecast)) {}
  PredictBatcher(const PredictBatcher&) = delete;
  PredictBatcher& operator=(const PredictBatcher&) = delete;

  bool Submit(PredictQuery query, ThreadPool& pool, std::shared_ptr<const void> keep_alive, Done done);

 private:
  struct Waiting {
    PredictQuery query;
    int64_t states = 1;
    Clock::time_point arrived;
    Done done;
  };

  // One pool task: batches until the queue is empty or another task takes over.
  void Drain(ThreadPool& pool, const std::shared_ptr<const void>& keep_alive);
  // The next batch (holding for companions as the options say); empty when
  // nothing waits, and then this task has ended.
  std::vector<Waiting> TakeBatch(ThreadPool& pool, const std::shared_ptr<const void>& keep_alive)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Answer(std::vector<Waiting> batch) const;
  // Starts one more task when work waits and a slot is free.
  void MaybeStartTask(ThreadPool& pool, const std::shared_ptr<const void>& keep_alive)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const Forecast forecast_;
  absl::Mutex mu_;
  absl::CondVar arrived_;  // Signalled by Submit, for a task holding for companions.
  std::deque<Waiting> waiting_ ABSL_GUARDED_BY(mu_);
  int64_t waiting_states_ ABSL_GUARDED_BY(mu_) = 0;
  int running_ ABSL_GUARDED_BY(mu_) = 0;  // Tasks scheduled or running.
};

}  // namespace hybrid::server
