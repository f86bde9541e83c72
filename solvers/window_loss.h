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

struct WindowRollout {
  at::Tensor prediction;  // [M, W, D]: each member's RK4 forecast of the end state.
};

WindowRollout RolloutWindows(const HybridModel& model, const at::Tensor& start, double step, int64_t steps);

// Mean over members, windows and components of (prediction − end)².
at::Tensor WindowMse(const at::Tensor& prediction, const at::Tensor& end);

}  // namespace hybrid::solvers
