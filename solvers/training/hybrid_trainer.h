// Offline joint training of a hybrid model on observed trajectories: Adam with
// separate learning rates for θ (physics) and φ (networks), minibatches of
// trajectory windows, a validation split with early stopping, step learning-rate
// decay, gradient clipping, deterministic seeds and a progress callback.
//
//   TrajectoryData train{states, /*dt=*/0.1}, validation{…};
//   TrainerOptions options;  options.iterations = 2000;  options.progress = print;
//   absl::StatusOr<TrainingResult> r = TrainHybrid(*model, train, validation, options, objective_options);
//
// Windows: every (sequence i, start j) with j + L < T gives x0 = states[i, j]
// and targets states[i, j+1 … j+L]. Each member draws its own minibatch when
// `bootstrap` is on (from its own resample, with replacement, of the training
// windows, fixed at the start: a deep ensemble with bagging); otherwise all
// members see the same windows (diversity from their initialisation).
// Validation: ensemble-mean MSE over every validation window, every
// `validate_every` iterations; the best parameters are kept and restored at the
// end, and training stops after `patience` validations without improvement.
// θ is clamped to its bounds after every step. Sampling and dropout draw from
// generators seeded by `seed`, so a run is reproducible on one machine (for a
// given LibTorch thread count).
//
// Errors: INVALID_ARGUMENT naming the field for bad options or data shapes;
// FAILED_PRECONDITION naming the iteration when the loss or a gradient becomes
// non-finite (the best parameters so far are restored first).
// The model must have a single owner during training.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "solvers/hybrid/hybrid_model.h"
#include "solvers/training/hybrid_objective.h"

namespace hybrid::solvers {

struct TrajectoryData {
  at::Tensor states;  // [N, T, D] in the model's dtype, observed at 0, dt, …, (T−1)·dt.
  double dt = 0.0;
};

struct TrainingProgress {
  int64_t iteration = 0;
  int64_t iterations = 0;
  double train_loss = 0.0;      // Data term of the last minibatch.
  double validation_mse = 0.0;  // Latest validation (NaN before the first).
  double best_validation_mse = 0.0;
  double lambda = 1.0;
  double elapsed_s = 0.0;
  double eta_s = 0.0;
  std::vector<std::pair<std::string, double>> theta;  // Trainable θ, member means.
};

// "it 120/2000  loss 1.2e-03  val 3.4e-03 (best 3.1e-03)  rho=27.91  eta 1m12s".
std::string FormatProgress(const TrainingProgress& progress);

struct TrainerOptions {
  int64_t iterations = 1000;
  int64_t batch_size = 32;
  int64_t window_length = 10;  // L observations after the start; 0: the whole sequence from t = 0.
  int64_t substeps = 1;        // RK4 steps per observation interval.
  double learning_rate_theta = 1e-2;
  double learning_rate_phi = 1e-3;
  int64_t lr_decay_every = 0;  // Multiply both rates by lr_decay_factor every this many iterations; 0: constant.
  double lr_decay_factor = 0.1;
  double gradient_clip = 0.0;  // Max global gradient norm; 0: no clipping.
  int64_t validate_every = 50;
  int64_t patience = 0;  // Validations without improvement before stopping; 0: never stop early.
  bool freeze_theta = false;
  bool freeze_phi = false;
  bool bootstrap = false;
  uint64_t seed = 0;
  std::function<void(const TrainingProgress&)> progress;  // Called after every validation.
};

struct TrainingResult {
  int64_t iterations_run = 0;
  int64_t best_iteration = 0;
  double best_validation_mse = 0.0;
  bool stopped_early = false;
  double seconds = 0.0;
  double seconds_per_iteration = 0.0;
  std::vector<TrainingProgress> history;  // One entry per validation.
};

absl::StatusOr<TrainingResult> TrainHybrid(HybridModel& model, const TrajectoryData& train,
                                           const TrajectoryData& validation, const TrainerOptions& options,
                                           const ObjectiveOptions& objective_options);

// Windows of `length` observations (0: whole sequences from t = 0).
struct WindowSet {
  at::Tensor start;    // [W, D]
  at::Tensor targets;  // [W, L, D]
};
absl::StatusOr<WindowSet> MakeWindows(const TrajectoryData& data, int64_t length);

// Ensemble forecasts of every window, no grad: [M, W, L, D] in eval mode.
// With dropout_samples S > 1 on a model with dropout, MC dropout (Gal &
// Ghahramani 2016): S passes with dropout active, [S·M, W, L, D] sample-major
// (pass s, member m at s·M + m), each pass one draw of every member's
// network. Leaves the model in eval mode. S must be ≥ 1.
at::Tensor ForecastWindows(HybridModel& model, const WindowSet& windows, double dt, int64_t substeps,
                           int64_t dropout_samples = 1);

// Trainable θ as member means, by name.
std::vector<std::pair<std::string, double>> TrainableTheta(const HybridModel& model);

}  // namespace hybrid::solvers
