// Dynamic batching of Predict (server/core/predict_batcher.h) on a served
// model: requests that wait together are forecast as one and each answer is
// bit for bit the one it gets alone; what differs per request (levels, errors,
// interrupts) stays its own; requests of different grids, and models without
// dynamic_batching, are never merged; the queue is bounded.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "server/core/served_model.h"
#include "server/core/thread_pool.h"
#include "server/repository/model_config.h"

namespace hybrid::server {
namespace {

std::shared_ptr<ServedModel> Serve(const std::string& batching, Metrics* metrics) {
  const std::string text =
      "name: \"l63\" physics: PHYSICS_KIND_LORENZ63 ensemble_members: 3 seed: 4 "
      "parameters { name: \"rho\" initial: 20 trainable: true } correction { hidden: [8, 8] } " +
      batching;
  return ServedModel::Create(ParseModelConfig(text, "test").value(), metrics).value();
}

PredictQuery Query(double x, int64_t batch = 1) {
  PredictQuery q;
  q.model = "l63";
  std::vector<double> values;
  for (int64_t b = 0; b < batch; ++b) values.insert(values.end(), {x + static_cast<double>(b), 1.0, 20.0});
  q.initial_state = batch == 1 ? DenseArray{{3}, values} : DenseArray{{batch, 3}, values};
  q.times = {0.1, 0.25};
  q.max_step = 0.01;
  q.levels = {0.9};
  return q;
}

struct Outcome {
  absl::StatusOr<PredictAnswer> answer = absl::UnknownError("not answered");
  PredictBatcher::Batch batch;
};

// Runs `queries` on a one-thread pool that is busy until every one of them
// waits, so that they queue together; one outcome per query, in order.
std::vector<Outcome> RunQueued(ServedModel& model, std::shared_ptr<ServedModel> self, std::vector<PredictQuery> queries,
                               size_t capacity = 64) {
  ThreadPool pool(1, capacity);
  absl::Notification release;
  EXPECT_TRUE(pool.TrySchedule([&] { release.WaitForNotification(); }));
  std::vector<Outcome> outcomes(queries.size());
  absl::BlockingCounter answered(static_cast<int>(queries.size()));
  for (size_t i = 0; i < queries.size(); ++i) {
    const bool queued = model.SchedulePredict(std::move(queries[i]), pool, self,
                                              [&, i](absl::StatusOr<PredictAnswer> a, const PredictBatcher::Batch& b) {
                                                outcomes[i] = {std::move(a), b};
                                                answered.DecrementCount();
                                              });
    EXPECT_TRUE(queued) << "query " << i;
  }
  release.Notify();
  answered.Wait();
  return outcomes;
}

void ExpectSameAnswer(const PredictAnswer& a, const PredictAnswer& b) {
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.mean.shape, b.mean.shape);
  EXPECT_EQ(a.mean.values, b.mean.values);  // Exactly: bit for bit.
  EXPECT_EQ(a.std.values, b.std.values);
  ASSERT_EQ(a.intervals.size(), b.intervals.size());
  for (size_t i = 0; i < a.intervals.size(); ++i) {
    EXPECT_EQ(a.intervals[i].lower.values, b.intervals[i].lower.values);
    EXPECT_EQ(a.intervals[i].upper.values, b.intervals[i].upper.values);
  }
}

TEST(PredictBatching, WaitingRequestsRunAsOneForecastAndAnswerWhatTheyWouldAlone) {
  Metrics metrics;
  std::shared_ptr<ServedModel> model = Serve("dynamic_batching {}", &metrics);
  std::vector<PredictQuery> queries = {Query(1.0), Query(-3.0, 4), Query(2.0), Query(5.0, 2)};
  queries[2].levels = {0.5, 0.8};  // Summarised per request.
  queries[3].include_observation_noise = true;
  std::vector<PredictQuery> alone = queries;
  const std::vector<Outcome> outcomes = RunQueued(*model, model, queries);
  for (size_t i = 0; i < outcomes.size(); ++i) {
    ASSERT_TRUE(outcomes[i].answer.ok()) << i << ": " << outcomes[i].answer.status();
    EXPECT_EQ(outcomes[i].batch.requests, 4) << "query " << i << " was not merged";
    EXPECT_EQ(outcomes[i].batch.first, i == 0);
    const absl::StatusOr<PredictAnswer> reference = model->Predict(alone[i]);
    ASSERT_TRUE(reference.ok()) << reference.status();
    ExpectSameAnswer(*outcomes[i].answer, *reference);
  }
  EXPECT_EQ(outcomes[2].answer->intervals.size(), 2u);
  // Not everyone's answer is the same: the starts differ.
  EXPECT_NE(outcomes[0].answer->mean.values, outcomes[2].answer->mean.values);
}

TEST(PredictBatching, ErrorsAndInterruptsStayPerRequest) {
  Metrics metrics;
  std::shared_ptr<ServedModel> model = Serve("dynamic_batching {}", &metrics);
  std::vector<PredictQuery> queries = {Query(1.0), Query(2.0), Query(3.0), Query(4.0)};
  queries[1].levels = {1.5};  // Invalid: its own INVALID_ARGUMENT.
  queries[2].interrupt = [] { return absl::DeadlineExceededError("deadline passed"); };
  queries[3].version = 99;  // Pins a version the model does not have.
  const PredictQuery first = queries[0];
  const std::vector<Outcome> outcomes = RunQueued(*model, model, queries);
  ASSERT_TRUE(outcomes[0].answer.ok()) << outcomes[0].answer.status();
  ExpectSameAnswer(*outcomes[0].answer, *model->Predict(first));
  EXPECT_EQ(outcomes[1].answer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(outcomes[1].answer.status().message().find("interval_levels[0]"), std::string::npos);
  EXPECT_EQ(outcomes[2].answer.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(outcomes[3].answer.status().code(), absl::StatusCode::kNotFound);
}

TEST(PredictBatching, OnlyRequestsOfOneForecastGridMerge) {
  Metrics metrics;
  std::shared_ptr<ServedModel> model = Serve("dynamic_batching { max_batch_size: 3 }", &metrics);
  std::vector<PredictQuery> queries = {Query(1.0), Query(2.0), Query(3.0), Query(4.0, 2), Query(5.0)};
  queries[1].times = {0.1, 0.3};         // Another grid: its own forecast.
  queries[2].initial_state_std = {0.2};  // Other draws: its own forecast.
  // queries 0, 3 (1 + 2 states) fill max_batch_size 3, so 4 waits for the next.
  const std::vector<Outcome> outcomes = RunQueued(*model, model, queries);
  for (const Outcome& o : outcomes) ASSERT_TRUE(o.answer.ok()) << o.answer.status();
  EXPECT_EQ(outcomes[0].batch.requests, 2);
  EXPECT_EQ(outcomes[3].batch.requests, 2);
  EXPECT_EQ(outcomes[0].batch.started, outcomes[3].batch.started);
  EXPECT_EQ(outcomes[1].batch.requests, 1);
  EXPECT_EQ(outcomes[2].batch.requests, 1);
  EXPECT_EQ(outcomes[4].batch.requests, 1);
  EXPECT_NE(outcomes[4].batch.started, outcomes[0].batch.started);
}

TEST(PredictBatching, WithoutDynamicBatchingEveryRequestRunsAlone) {
  Metrics metrics;
  std::shared_ptr<ServedModel> model = Serve("", &metrics);
  const std::vector<Outcome> outcomes = RunQueued(*model, model, {Query(1.0), Query(2.0), Query(3.0)});
  for (const Outcome& o : outcomes) {
    ASSERT_TRUE(o.answer.ok()) << o.answer.status();
    EXPECT_EQ(o.batch.requests, 1);
    EXPECT_TRUE(o.batch.first);
  }
}

TEST(PredictBatching, TheQueueIsBoundedByThePoolsCapacity) {
  Metrics metrics;
  std::shared_ptr<ServedModel> model = Serve("dynamic_batching {}", &metrics);
  ThreadPool pool(1, 2);
  absl::Notification release;
  ASSERT_TRUE(pool.TrySchedule([&] { release.WaitForNotification(); }));
  std::atomic<int> answered{0};
  auto done = [&](absl::StatusOr<PredictAnswer> a, const PredictBatcher::Batch&) {
    EXPECT_TRUE(a.ok()) << a.status();
    ++answered;
  };
  EXPECT_TRUE(model->SchedulePredict(Query(1.0), pool, model, done));
  EXPECT_TRUE(model->SchedulePredict(Query(2.0), pool, model, done));
  EXPECT_FALSE(model->SchedulePredict(Query(3.0), pool, model, done)) << "a third waiting request";
  release.Notify();
  pool.Stop();
  EXPECT_EQ(answered.load(), 2);
}

TEST(PredictBatching, TheOldestRequestIsHeldForCompanionsUpToTheQueueDelay) {
  Metrics metrics;
  // A long delay that a second request ends early: two states are preferred.
  std::shared_ptr<ServedModel> model =
      Serve("dynamic_batching { max_queue_delay_microseconds: 100000 preferred_batch_size: 2 }", &metrics);
  ThreadPool pool(1, 8);
  absl::Mutex mu;
  std::vector<PredictBatcher::Batch> batches;
  auto done = [&](absl::StatusOr<PredictAnswer> a, const PredictBatcher::Batch& b) {
    EXPECT_TRUE(a.ok()) << a.status();
    absl::MutexLock lock(&mu);
    batches.push_back(b);
  };
  ASSERT_TRUE(model->SchedulePredict(Query(1.0), pool, model, done));  // The pool is idle: held, not run.
  ASSERT_TRUE(model->SchedulePredict(Query(2.0), pool, model, done));
  pool.Stop();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].requests, 2);
  EXPECT_EQ(batches[1].requests, 2);
  // A lone request is held at most the delay, then runs alone.
  std::vector<PredictBatcher::Batch> lone;
  ThreadPool idle(1, 8);
  const auto submitted = PredictBatcher::Clock::now();
  ASSERT_TRUE(model->SchedulePredict(Query(3.0), idle, model,
                                     [&](absl::StatusOr<PredictAnswer> a, const PredictBatcher::Batch& b) {
                                       EXPECT_TRUE(a.ok()) << a.status();
                                       lone.push_back(b);
                                     }));
  idle.Stop();
  ASSERT_EQ(lone.size(), 1u);
  EXPECT_EQ(lone[0].requests, 1);
  EXPECT_GE(lone[0].started - submitted, std::chrono::microseconds(100000));
}

TEST(PredictBatching, ConfigBoundsAreCheckedNamingTheField) {
  for (const char* bad :
       {"dynamic_batching { max_queue_delay_microseconds: -1 }",
        "dynamic_batching { max_queue_delay_microseconds: 100001 }", "dynamic_batching { preferred_batch_size: -2 }",
        "limits { max_batch: 8 } dynamic_batching { max_batch_size: 9 }"}) {
    const absl::StatusOr<v1::ModelConfig> c =
        ParseModelConfig(std::string("name: \"l63\" physics: PHYSICS_KIND_LORENZ63 ") + bad, "test");
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(c.status().message().find("dynamic_batching."), std::string::npos) << c.status();
  }
  const v1::ModelConfig filled =
      ParseModelConfig("name: \"l63\" physics: PHYSICS_KIND_LORENZ63 limits { max_batch: 64 } dynamic_batching {}",
                       "test")
          .value();
  EXPECT_EQ(filled.dynamic_batching().preferred_batch_size(), 32);
  EXPECT_EQ(filled.dynamic_batching().max_batch_size(), 64);
}

}  // namespace
}  // namespace hybrid::server
