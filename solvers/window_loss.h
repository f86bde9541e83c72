// The calibration objective on observation windows.
//
// A window is (start x₀, end xₙ, step h, steps n): the system was observed in
// x₀ and, n·h later, in xₙ. For W windows, start/end are [W, D].
//
//   WindowRollout r = RolloutWindows(model, start, h, n);    // r.prediction [M, W, D]
//   at::Tensor mse = WindowMse(r.prediction, end);           // scalar
//
// Differentiable wrt the model's parameters and `start` (exact backprop through
// every RK4 stage). Thread-safety: that of the model.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "solvers/hybrid_model.h"

namespace hybrid::solvers {

// W observation windows: start and end are [W, D] in the model's dtype; the
// optional mask [W, D] (1 observed, 0 not) limits losses and scores to the
// observed components. The optional path [W, steps, D] holds the states
// observed after every step (its last row is `end`): the loss then averages
// over the whole path, as in the EGA paper's training. step > 0; steps ≥ 1.
struct WindowBatch {
  at::Tensor start;
  at::Tensor end;
  at::Tensor mask;  // Undefined: every component observed.
  at::Tensor path;  // Undefined: only the end state is observed.
  double step = 0.0;
  int64_t steps = 0;
};

struct WindowRollout {
  at::Tensor prediction;  // [M, W, D]: each member's RK4 forecast of the end state.
};

WindowRollout RolloutWindows(const HybridModel& model, const at::Tensor& start, double step, int64_t steps);

// Mean over members, windows and components of (prediction − end)²; with a
// mask [W, D], the mean over the observed components only.
at::Tensor WindowMse(const at::Tensor& prediction, const at::Tensor& end, const at::Tensor& mask = at::Tensor());

// The loss of forecast paths [M, W, steps, D] on a batch: WindowMse over the
// observed path when the batch has one, else over the end state.
at::Tensor BatchMse(const at::Tensor& forecast_path, const WindowBatch& batch);

}  // namespace hybrid::solvers
