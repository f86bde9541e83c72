// OnlineCalibrator: updates a HybridModel from observation windows as they
// stream in. One class for every method; the model's config picks it:
//   gradient  backprop | ega-static | ega-jacobian | ega-tlm | ega-ensemble
//             (gradient_rollout.h), Adam with separate learning rates for θ
//             and φ, optional step-decay schedule and gradient-norm clipping;
//   θ         by those gradients, or by an ensemble Kalman update across the
//             model's members (ensemble_kalman.h) — the way to calibrate the
//             parameters of a black-box solver, which has no gradients.
//
//   auto calibrator = OnlineCalibrator::Create(model, options).value();
//   absl::StatusOr<CalibrationStep> step = calibrator->Update(batch);
//
// Each Update, on a batch of W windows (window_loss.h):
//   1. forecasts the windows with every member and scores the observed end
//      values against the central interval at `coverage_level` (ensemble
//      spread + residual variance) — the interval the model would have given
//      before seeing them; the batch's loss is measured here too;
//   2. the divergence guard (divergence_guard.h) rejects a batch whose loss is
//      not finite or above guard_loss_ratio × the running median: a poisoned
//      window never reaches the parameters;
//   3. adds up to replay_batch stored windows (replay_buffer.h), takes one
//      optimizer step on mean (prediction − end)² + correction_penalty·‖g‖²,
//      (over the observed path when the batch has one), then the ensemble
//      Kalman step on θ if enabled;
//   4. rolls everything back (parameters and optimizer state) if the update
//      left a parameter non-finite or outside its bounds, or the batch's loss
//      after it is non-finite or above the guard's limit;
//   5. on acceptance updates the residual variance (running mean, then EMA
//      0.02) on the observed components and stores the batch for replay.
// A rejected update returns FAILED_PRECONDITION (its message says why) and
// leaves model, optimizer and noise estimate exactly as they were; rollbacks()
// counts the updates undone by the guard. Deterministic for a given seed and
// sequence of batches. Not thread-safe: one owner (the calibration worker).
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "solvers/divergence_guard.h"
#include "solvers/gradient_rollout.h"
#include "solvers/hybrid_model.h"
#include "solvers/replay_buffer.h"
#include "solvers/window_loss.h"

namespace torch::optim {
class Adam;
}

namespace hybrid::solvers {

struct CalibratorOptions {
  GradientOptions gradient{};  // Method, and K and perturbation for ega-ensemble.
  double learning_rate_theta = 0.02;
  double learning_rate_phi = 1e-3;
  double correction_penalty = 0.0;
  double coverage_level = 0.9;
  double initial_residual_std = 1.0;
  // Learning rates × lr_decay every lr_decay_every accepted updates (0: constant).
  double lr_decay = 1.0;
  int64_t lr_decay_every = 0;
  double clip_norm = 0.0;  // Largest gradient norm applied; 0: no clipping.
  // θ by ensemble Kalman inversion across members (needs members ≥ 2) instead of gradients.
  bool theta_ensemble_kalman = false;
  double kalman_observation_std = 0.0;  // Observation noise σ; 0: the running residual std.
  double kalman_inflation = 1.01;       // Multiplicative spread inflation of θ, ≥ 1.
  int64_t replay_capacity = 0;          // Windows kept for replay; 0: none.
  int64_t replay_batch = 0;             // Stored windows added to each update.
  DivergenceGuard::Options guard{};
  uint64_t seed = 0;  // Replay sampling, ensemble perturbations, Kalman noise.
};

struct CalibrationStep {
  double loss = 0.0;           // Data MSE of the batch (end or path) before the update, mean over members.
  double coverage = 0.0;       // Share of observed end values inside the interval.
  double gradient_norm = 0.0;  // Before clipping; 0 when nothing has a gradient.
  int64_t replayed = 0;        // Stored windows trained on along with the batch.
};

class OnlineCalibrator {
 public:
  // INVALID_ARGUMENT naming the calibration.* field for bad options or a
  // method the model's physics cannot support.
  static absl::StatusOr<std::unique_ptr<OnlineCalibrator>> Create(std::shared_ptr<HybridModel> model,
                                                                  const CalibratorOptions& options);
  ~OnlineCalibrator();

  absl::StatusOr<CalibrationStep> Update(const WindowBatch& batch);

  const HybridModel& model() const { return *model_; }
  // Per-component variance of one-window forecast errors, [D].
  const at::Tensor& residual_variance() const { return residual_variance_; }
  const CalibratorOptions& options() const { return options_; }
  int64_t rollbacks() const { return rollbacks_; }
  int64_t accepted() const { return accepted_; }

  // The complete mutable state — parameters and buffers, Adam's moments, step
  // counts and learning rates, noise estimate, guard history, replay windows,
  // every random engine, counters — as a LibTorch archive. A calibrator built
  // from the same model spec and options that loads it continues exactly as
  // this one would (bit for bit), which is what write-ahead-log replay needs.
  // (Network dropout, if configured, draws from LibTorch's global generator
  // and is the one thing not captured.) SaveState: INTERNAL on a LibTorch
  // error. LoadState is all or nothing: INVALID_ARGUMENT naming the entry for
  // an archive of another architecture or options, calibrator unchanged.
  absl::StatusOr<std::string> SaveState() const;
  absl::Status LoadState(const std::string& bytes);

 private:
  OnlineCalibrator(std::shared_ptr<HybridModel> model, const CalibratorOptions& options);
  struct Saved;
  Saved Save() const;
  void Restore(const Saved& saved);
  absl::Status CheckParameters() const;
  // Gradient step on `train`; returns the gradient norm.
  // path: the forecast after every step, [M, W, n, D].
  absl::StatusOr<double> GradientStep(const WindowBatch& train, const at::Tensor& path);
  void KalmanStep(const WindowBatch& train, const at::Tensor& path);
  void AfterAccepted(const WindowBatch& batch, const at::Tensor& mean_prediction);

  std::shared_ptr<HybridModel> model_;
  CalibratorOptions options_;
  std::unique_ptr<torch::optim::Adam> optimizer_;  // Null when no parameter gets a gradient.
  at::Tensor residual_variance_;
  at::Tensor observed_count_;  // [D]: windows that observed each component.
  DivergenceGuard guard_;
  ReplayBuffer replay_;
  at::Generator generator_;
  int64_t accepted_ = 0;
  int64_t rollbacks_ = 0;
};

}  // namespace hybrid::solvers
