// The calibration objective on observation windows.
//
// A window is (start x₀, end xₙ, step h, steps n): the system was observed in
// x₀ and, n·h later, in xₙ (and possibly after every step in between).
// Forecasts of windows come from gradient_rollout.h.
//
//   at::Tensor path = RolloutPathForGradient(model, batch.start, h, n, options, generator);
//   at::Tensor loss = BatchMse(path, batch);   // scalar, differentiable as the rollout is
//
// Pure tensor functions; thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

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

// Mean over members, windows and components of (prediction − end)²; with a
// mask [W, D], the mean over the observed components only.
at::Tensor WindowMse(const at::Tensor& prediction, const at::Tensor& end, const at::Tensor& mask = at::Tensor());

// The loss of forecast paths [M, W, steps, D] on a batch: WindowMse over the
// observed path when the batch has one, else over the end state.
at::Tensor BatchMse(const at::Tensor& forecast_path, const WindowBatch& batch);

}  // namespace hybrid::solvers
