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
//   1. forecasts the windows with every member (the batch's loss), and with
//      samples_per_member draws per member from starts perturbed by the sensor
//      noise (perturbed_forecast.h): what the model predicts for them, spread
//      included, before seeing them;
//   2. the divergence guard tests every window (every observed path point)
//      against that prediction — the innovation test of forecast_error_model.h,
//      with the sample spread, the learned model error and the configured
//      sensor noise — and, if guard_loss_ratio > 0, the loss against that
//      multiple of the running median (divergence_guard.h): a poisoned window
//      never reaches the parameters, from the first observation on; the
//      observed values are scored against the observation interval at
//      `coverage_level`;
//   3. adds up to replay_batch stored windows (replay_buffer.h), takes one
//      optimizer step on mean (prediction − end)² + correction_penalty·‖g‖²,
//      (over the observed path when the batch has one), then the ensemble
//      Kalman step on θ if enabled;
//   4. undoes everything (parameters and optimizer state) if the update
//      left a parameter non-finite or outside its bounds, or its forecast of
//      the batch fails the same tests;
//   5. on acceptance teaches the forecast error model (model-error rate,
//      conformal scales) from the step-1 innovations and stores the batch for
//      replay.
// A rejected update returns FAILED_PRECONDITION (its message says why) and
// leaves model and optimizer exactly as they were; the error model only
// counts a window the step-2 test refused, and learns from it (clipped) while
// the model has lost track (ForecastErrorModel::LearnRefused); reverted_updates()
// counts the updates undone by the guard. Deterministic for a given seed and
// sequence of batches. Not thread-safe: one owner (the calibration worker).
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "solvers/calibration/divergence_guard.h"
#include "solvers/calibration/gradient_rollout.h"
#include "solvers/calibration/replay_buffer.h"
#include "solvers/hybrid/hybrid_model.h"
#include "solvers/hybrid/window_loss.h"
#include "solvers/uncertainty/forecast_error_model.h"

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
  // Sensor noise, model-error prior and memory, guard false-alarm rate
  // (errors.coverage_level is taken from coverage_level above).
  ForecastErrorOptions errors{};
  int64_t samples_per_member = 8;  // Perturbed-start draws per member that score each window.
  // Learning rates × lr_decay every lr_decay_every accepted updates (0: constant).
  double lr_decay = 1.0;
  int64_t lr_decay_every = 0;
  double clip_norm = 0.0;  // Largest gradient norm applied; 0: no clipping.
  // θ by ensemble Kalman inversion across members (needs members ≥ 2) instead of gradients.
  bool theta_ensemble_kalman = false;
  // Observation noise σ of the ensemble Kalman step; 0: what the error model
  // says a window misses besides the members' spread (sensor noise, model
  // error, propagated start noise).
  double kalman_observation_std = 0.0;
  double kalman_inflation = 1.01;  // Multiplicative spread inflation of θ, ≥ 1.
  int64_t replay_capacity = 0;     // Windows kept for replay; 0: none.
  int64_t replay_batch = 0;        // Stored windows added to each update.
  DivergenceGuard::Options guard{};
  uint64_t seed = 0;  // Replay sampling, ensemble perturbations, Kalman noise.
};

struct CalibrationStep {
  double loss = 0.0;           // Data MSE of the batch (end or path) before the update, mean over members.
  double coverage = 0.0;       // Share of observed values inside the observation interval predicted for them.
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

  // An optimizer step on a loss the caller computes from the model by
  // autograd — the entity filter's observation-space loss of a report (the
  // gradient method is backprop; black-box θ is not reached this way), in two
  // halves for a caller whose own update may still fail in between:
  // BackwardOnLoss computes and holds the gradient and returns its norm (0
  // when nothing trainable has one; FAILED_PRECONDITION when it is not
  // finite, nothing held); StepHeldGradient applies it with the same Adam,
  // learning rates, clipping and decay schedule as Update (an applied step
  // counts as an accepted update; no guard, replay or error model),
  // undone (FAILED_PRECONDITION, model and optimizer as before) if a parameter
  // leaves its bounds or the finite numbers; DiscardHeldGradient drops it.
  // `frozen`: tensors of the model that must not move (an entity's own
  // parameters, swapped in for the loss).
  absl::StatusOr<double> BackwardOnLoss(const at::Tensor& loss, const std::vector<at::Tensor>& frozen);
  absl::Status StepHeldGradient();
  void DiscardHeldGradient();

  const HybridModel& model() const { return *model_; }
  // For an owner that changes θ by other means (the entity filter's state
  // augmentation); the same single-owner rule as Update.
  HybridModel& mutable_model() { return *model_; }
  // What the model's forecasts miss (model-error rate, sensor noise, conformal scales).
  const ForecastErrorModel& errors() const { return errors_; }
  const CalibratorOptions& options() const { return options_; }
  int64_t reverted_updates() const { return reverted_updates_; }
  int64_t accepted() const { return accepted_; }

  // The complete mutable state — parameters and buffers, Adam's moments, step
  // counts and learning rates, error model, guard history, replay windows,
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
  OnlineCalibrator(std::shared_ptr<HybridModel> model, const CalibratorOptions& options, ForecastErrorModel errors);
  struct UndoPoint;  // In memory, for the guard's undo (not SaveState's archive).
  UndoPoint MarkUndoPoint() const;
  void UndoTo(const UndoPoint& point);
  absl::Status CheckParameters() const;
  // Gradient step on `train`; returns the gradient norm.
  // path: the forecast after every step, [M, W, n, D].
  absl::StatusOr<double> GradientStep(const WindowBatch& train, const at::Tensor& path);
  // Backward of `loss` and clipping, but for `frozen`'s gradients; the norm before clipping.
  absl::StatusOr<double> Backward(const at::Tensor& loss, const std::vector<at::Tensor>& frozen);
  // sigma: [D] observation noise of the Kalman step.
  void KalmanStep(const WindowBatch& train, const at::Tensor& path, const at::Tensor& sigma);
  // The batch's observed values against the perturbed-start samples.
  ScoredForecast Score(const WindowBatch& batch);
  // σ [D] of the Kalman step: kalman_observation_std, or what `scored`'s
  // predicted variance holds beyond the members' own spread (`members`:
  // their plain forecast of the same points).
  at::Tensor KalmanNoise(const ScoredForecast& scored, const ScoredForecast& members) const;
  void AfterAccepted(const WindowBatch& batch, const ScoredForecast& scored);

  std::shared_ptr<HybridModel> model_;
  CalibratorOptions options_;
  std::unique_ptr<torch::optim::Adam> optimizer_;  // Null when no parameter gets a gradient.
  ForecastErrorModel errors_;
  DivergenceGuard guard_;
  ReplayBuffer replay_;
  at::Generator generator_;
  int64_t accepted_ = 0;
  int64_t reverted_updates_ = 0;
};

}  // namespace hybrid::solvers
