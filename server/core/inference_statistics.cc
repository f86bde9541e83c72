#include "server/core/inference_statistics.h"

#include <chrono>

namespace hybrid::server {
namespace {

void Add(InferenceStatistics::Duration& d, uint64_t ns) {
  ++d.count;
  d.ns += ns;
}

uint64_t NowUnixMs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

}  // namespace

void InferenceStatistics::RecordSuccess(const Phases& phases, uint64_t states, uint64_t executions) {
  const uint64_t now = NowUnixMs();
  absl::MutexLock lock(&mu_);
  Add(totals_.success, phases.total_ns);
  Add(totals_.queue, phases.queue_ns);
  Add(totals_.compute_input, phases.input_ns);
  Add(totals_.compute_infer, phases.infer_ns);
  Add(totals_.compute_output, phases.output_ns);
  totals_.inference_count += states;
  totals_.execution_count += executions;
  totals_.last_inference_unix_ms = now;
}

void InferenceStatistics::RecordFailure(uint64_t total_ns) {
  absl::MutexLock lock(&mu_);
  Add(totals_.fail, total_ns);
}

InferenceStatistics::Totals InferenceStatistics::totals() const {
  absl::MutexLock lock(&mu_);
  return totals_;
}

}  // namespace hybrid::server
