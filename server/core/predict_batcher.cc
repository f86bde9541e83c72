#include "server/core/predict_batcher.h"

#include <utility>

#include "absl/time/time.h"
#include "server/core/predict_on_snapshot.h"

namespace hybrid::server {

bool PredictBatcher::Submit(PredictQuery query, ThreadPool& pool, std::shared_ptr<const void> keep_alive, Done done) {
  const int64_t states = Rows(query.initial_state);
  absl::MutexLock lock(&mu_);
  if (waiting_.size() >= pool.capacity()) return false;
  waiting_.push_back({std::move(query), states, Clock::now(), std::move(done)});
  waiting_states_ += states;
  arrived_.Signal();
  MaybeStartTask(pool, keep_alive);
  if (running_ == 0) {  // The pool refused and nothing of ours runs to take it.
    waiting_states_ -= states;
    waiting_.pop_back();
    return false;
  }
  return true;
}

void PredictBatcher::MaybeStartTask(ThreadPool& pool, const std::shared_ptr<const void>& keep_alive) {
  if (waiting_.empty() || running_ >= pool.threads()) return;
  ++running_;
  if (!pool.TrySchedule([this, &pool, keep_alive] { Drain(pool, keep_alive); })) --running_;
}

void PredictBatcher::Drain(ThreadPool& pool, const std::shared_ptr<const void>& keep_alive) {
  while (true) {
    std::vector<Waiting> batch;
    {
      absl::MutexLock lock(&mu_);
      batch = TakeBatch(pool, keep_alive);
      if (batch.empty()) return;
    }
    Answer(std::move(batch));
    absl::MutexLock lock(&mu_);
    if (waiting_.empty()) {
      --running_;
      return;
    }
    // The rest to a fresh task, behind other models' work; if the pool
    // refuses (full or stopping), this one goes on.
    if (pool.TrySchedule([this, &pool, keep_alive] { Drain(pool, keep_alive); })) return;
  }
}

std::vector<PredictBatcher::Waiting> PredictBatcher::TakeBatch(ThreadPool& pool,
                                                               const std::shared_ptr<const void>& keep_alive) {
  if (options_.merge && options_.max_queue_delay > Clock::duration::zero()) {
    while (!waiting_.empty() && waiting_states_ < options_.preferred_batch_states) {
      const Clock::duration left = waiting_.front().arrived + options_.max_queue_delay - Clock::now();
      if (left <= Clock::duration::zero()) break;
      arrived_.WaitWithTimeout(&mu_, absl::FromChrono(left));
    }
  }
  std::vector<Waiting> batch;
  if (waiting_.empty()) {  // Another task took it while this one held.
    --running_;
    return batch;
  }
  int64_t states = waiting_.front().states;
  batch.push_back(std::move(waiting_.front()));
  waiting_.pop_front();
  if (options_.merge) {
    std::deque<Waiting> rest;
    for (Waiting& w : waiting_) {
      if (states + w.states <= options_.max_batch_states && SharesForecast(batch.front().query, w.query)) {
        states += w.states;
        batch.push_back(std::move(w));
      } else {
        rest.push_back(std::move(w));
      }
    }
    waiting_.swap(rest);
  }
  for (const Waiting& w : batch) waiting_states_ -= w.states;
  MaybeStartTask(pool, keep_alive);  // Others wait that this batch could not take: another core may.
  return batch;
}

void PredictBatcher::Answer(std::vector<Waiting> batch) const {
  Batch ran;
  ran.started = Clock::now();
  // Interrupted before the forecast: answered now, not forecast.
  std::vector<absl::Status> early(batch.size());
  std::vector<const PredictQuery*> queries;
  std::vector<size_t> forecast;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].query.interrupt) early[i] = batch[i].query.interrupt();
    if (early[i].ok()) {
      queries.push_back(&batch[i].query);
      forecast.push_back(i);
    }
  }
  std::vector<absl::StatusOr<PredictAnswer>> answers =
      queries.empty() ? std::vector<absl::StatusOr<PredictAnswer>>() : forecast_(queries);
  ran.finished = Clock::now();
  ran.requests = static_cast<int64_t>(queries.size());
  std::vector<absl::StatusOr<PredictAnswer>> by_request;
  for (const absl::Status& s : early) by_request.push_back(s.ok() ? absl::UnknownError("not forecast") : s);
  for (size_t j = 0; j < forecast.size(); ++j) {
    absl::StatusOr<PredictAnswer>& answer = by_request[forecast[j]];
    answer = std::move(answers[j]);
    // Its deadline passed or its client left while the batch ran for others.
    const PredictQuery& q = batch[forecast[j]].query;
    if (answer.ok() && q.interrupt) {
      if (absl::Status s = q.interrupt(); !s.ok()) answer = s;
    }
  }
  bool first = true;
  for (size_t i = 0; i < batch.size(); ++i) {
    ran.first = first && early[i].ok();
    first = first && !ran.first;
    batch[i].done(std::move(by_request[i]), ran);
  }
}

}  // namespace hybrid::server
