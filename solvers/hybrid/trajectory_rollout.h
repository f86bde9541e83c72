// Multi-step forecasts of a hybrid model at evenly spaced observation times,
// the building block of offline training and evaluation, and its step-by-step
// paths for calibration windows.
//
//   at::Tensor x = RolloutTrajectory(model, x0, /*dt=*/0.1, /*outputs=*/30, /*substeps=*/10);
//   // x [M, B, 30, D]: the state at dt, 2·dt, …, 30·dt (x0 itself excluded)
//
// x0 is [M, B, D] (members may start from different states, e.g. bootstrap
// resamples) or [B, D] (every member from the same state). Each interval dt is
// covered by `substeps` classical RK4 steps. Differentiable wrt the model's
// parameters and x0 (backprop through every stage). Thread-safety: that of the model.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "solvers/hybrid/hybrid_model.h"

namespace hybrid::solvers {

at::Tensor RolloutTrajectory(const HybridModel& model, const at::Tensor& x0, double dt, int64_t outputs,
                             int64_t substeps);

// The forecast after every one of `steps` RK4 steps of size `step` from
// start [W, D] (every member from the same states), without autograd:
// [M, W, steps, D]. The exact values of calibration windows, whatever the
// gradient method (solvers/calibration/gradient_rollout.h).
at::Tensor ForecastPath(const HybridModel& model, const at::Tensor& start, double step, int64_t steps);

// The physics alone advanced by one step of size h: RK4 of f(x; θ), or the
// black box's Ψ(x; θ). x [M, B, D]. Differentiable for vector-field physics.
at::Tensor PhysicsStep(const HybridModel& model, const at::Tensor& x, double h);

}  // namespace hybrid::solvers
