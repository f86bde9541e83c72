// BackpropCalibrator: online calibration of an HybridModel by exact
// gradients through the RK4 window and Adam, with separate learning rates for
// the physical parameters θ and the network weights φ.
//
//   auto calibrator = BackpropCalibrator::Create(model, options).value();
//   absl::StatusOr<CalibrationStep> step = calibrator->Update(batch);
//
// Each Update, on a batch of W windows:
//   1. forecasts every window with every member (current parameters) and scores
//      the end states against the central interval at `coverage_level`
//      (ensemble spread + residual variance) — the interval the model would have
//      given for them before seeing them;
//   2. loss = mean (prediction − end)² + correction_penalty · mean ‖g(start)‖²;
//   3. one Adam step, then θ is clamped to its bounds;
//   4. updates the residual variance (per state component) from the ensemble-mean
//      error, by a running mean that becomes an EMA (weight 0.02).
// A non-finite loss or gradient is FAILED_PRECONDITION and leaves the model and
// optimizer untouched. Not thread-safe: one owner (the model's calibration worker).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "solvers/hybrid_model.h"

namespace torch::optim {
class Adam;
}

namespace hybrid::solvers {

struct CalibratorOptions {
  double learning_rate_theta = 0.02;
  double learning_rate_phi = 1e-3;
  double correction_penalty = 0.0;
  double coverage_level = 0.9;
  double initial_residual_std = 1.0;
};

// start and end are [W, D] in the model's dtype; step > 0; steps ≥ 1.
struct WindowBatch {
  at::Tensor start;
  at::Tensor end;
  double step = 0.0;
  int64_t steps = 0;
};

struct CalibrationStep {
  double loss = 0.0;      // Data MSE before the update (mean over members).
  double coverage = 0.0;  // Share of end-state components inside the interval.
};

class BackpropCalibrator {
 public:
  static absl::StatusOr<std::unique_ptr<BackpropCalibrator>> Create(std::shared_ptr<HybridModel> model,
                                                                    const CalibratorOptions& options);
  ~BackpropCalibrator();

  absl::StatusOr<CalibrationStep> Update(const WindowBatch& batch);

  const HybridModel& model() const { return *model_; }
  // Per-component variance of one-window forecast errors, [D].
  const at::Tensor& residual_variance() const { return residual_variance_; }
  const CalibratorOptions& options() const { return options_; }

 private:
  BackpropCalibrator(std::shared_ptr<HybridModel> model, const CalibratorOptions& options);

  std::shared_ptr<HybridModel> model_;
  CalibratorOptions options_;
  std::unique_ptr<torch::optim::Adam> optimizer_;  // Null when nothing is trainable.
  at::Tensor residual_variance_;
  int64_t updates_ = 0;
};

}  // namespace hybrid::solvers
