// InferenceStatistics: what a model's forecasts cost, counted as Triton's
// ModelStatistics reports it — successes and failures with their total time,
// and for successes the time queued for the Predict pool, decoding the
// request, forecasting and encoding the answer — plus how many initial states
// were forecast and when the last forecast finished.
//
//   InferenceStatistics::Phases phases;  // queue_ns, input_ns, infer_ns, output_ns, total_ns
//   phases.infer_ns = f;
//   statistics.RecordSuccess(phases, states, /*executions=*/1);
//   statistics.RecordFailure(total_ns);
//   InferenceStatistics::Totals totals = statistics.totals();
//
// This is the model's own state, not read back from Prometheus (which
// observes the same calls as latency histograms). Thread-safe.
#pragma once

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace hybrid::server {

class InferenceStatistics {
 public:
  struct Duration {
    uint64_t count = 0;
    uint64_t ns = 0;  // Cumulative.
  };
  struct Phases {  // Nanoseconds of one forecast: queued, decoding, forecasting, encoding, all.
    uint64_t queue_ns = 0, input_ns = 0, infer_ns = 0, output_ns = 0, total_ns = 0;
  };
  struct Totals {
    Duration success, fail, queue, compute_input, compute_infer, compute_output;
    uint64_t inference_count = 0;         // Initial states forecast.
    uint64_t execution_count = 0;         // Forecasts run.
    uint64_t last_inference_unix_ms = 0;  // 0: none yet.
  };

  // `executions`: 1 for the first request of a batched forecast, 0 for the
  // rest of its batch (Triton's execution_count counts forecasts run).
  void RecordSuccess(const Phases& phases, uint64_t states, uint64_t executions = 1);
  void RecordFailure(uint64_t total_ns);
  Totals totals() const;

 private:
  mutable absl::Mutex mu_;
  Totals totals_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hybrid::server
