// Multi-step forecasts of a hybrid model at evenly spaced observation times,
// the building block of offline training and evaluation.
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

#include "solvers/hybrid_model.h"

namespace hybrid::solvers {

at::Tensor RolloutTrajectory(const HybridModel& model, const at::Tensor& x0, double dt, int64_t outputs,
                             int64_t substeps);

}  // namespace hybrid::solvers
