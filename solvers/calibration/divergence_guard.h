// DivergenceGuard: decides whether a calibration update may stand. It keeps
// the losses of the last `window` accepted updates and rejects a loss that is
// not finite or, once `warmup` updates were accepted, above `loss_ratio` × their
// median — a poisoned observation (sensor glitch, wrong units) or an update
// that made the model diverge. The owner undoes the update and counts it.
//
//   DivergenceGuard::Options o;
//   o.loss_ratio = 10;  // the ratio test on
//   o.warmup = 10;
//   o.window = 50;
//   DivergenceGuard guard(o);
//   if (absl::Status s = guard.Check(loss, "before the update"); !s.ok()) return s;  // FAILED_PRECONDITION
//   guard.Record(loss);
//
// loss_ratio ≤ 0 (the default) disables the ratio test (non-finite losses are
// still rejected): the calibrator's main guard is the innovation test of
// forecast_error_model.h, which needs no history. Not thread-safe: one owner.
#pragma once

#include <cstdint>
#include <deque>
#include <utility>

#include "absl/status/status.h"

namespace hybrid::solvers {

class DivergenceGuard {
 public:
  struct Options {
    double loss_ratio = 0.0;
    int64_t warmup = 10;
    int64_t window = 50;
    // Losses at or below this are never a spike: a model that fits clean data
    // to ~1e-9 sees harmless 10x swings. In the data's units squared.
    double loss_floor = 1e-6;
  };

  explicit DivergenceGuard(Options options) : options_(options) {}

  // OK, or FAILED_PRECONDITION saying which test failed; `when` goes into the message.
  absl::Status Check(double loss, const char* when) const;
  void Record(double loss);
  // Median of the recorded losses; 0 when none.
  double Median() const;
  // The recorded losses, oldest first (for checkpoints), and their restore.
  const std::deque<double>& recent() const { return recent_; }
  void Restore(std::deque<double> recent) { recent_ = std::move(recent); }

 private:
  Options options_;
  std::deque<double> recent_;
};

}  // namespace hybrid::solvers
