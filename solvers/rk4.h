// Classic fourth-order Runge–Kutta with a fixed step.
//
// States may have any shape ([B, D] for a batch, [M, B, D] for an ensemble), any
// floating dtype (float64 is what calibration uses; float32 works) and any
// device: the integrator only combines what the VectorField returns. Autograd
// records every stage unless the caller holds a NoGradGuard, which gives exact
// gradients of anything computed from the result ("backprop through the steps").
// Thread-safe as long as the VectorField is.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "solvers/vector_field.h"

namespace hybrid::solvers {

// One step of size h from (t, x).
at::Tensor Rk4Step(const VectorField& f, double t, const at::Tensor& x, double h);

// `steps` steps of size h from (t0, x0); returns the state at t0 + steps·h.
// No checks: callers validate h > 0 and steps ≥ 0 (the hot calibration path).
at::Tensor Rk4Integrate(const VectorField& f, const at::Tensor& x0, double t0, double h,
                        int64_t steps);

// States at each of `times` (strictly increasing, all > t0), stacked as
// [T, x0.shape...]. Between consecutive output times it takes ceil(Δt/max_step)
// equal steps, so every output time is hit exactly.
// Errors: INVALID_ARGUMENT (field `times` or `max_step`) for bad grids;
// FAILED_PRECONDITION naming the time when the state stops being finite.
absl::StatusOr<at::Tensor> Rk4Solve(const VectorField& f, const at::Tensor& x0, double t0,
                                    absl::Span<const double> times, double max_step);

// Number of RK4 steps Rk4Solve will take for this grid (for limits checks).
int64_t Rk4StepCount(double t0, absl::Span<const double> times, double max_step);

}  // namespace hybrid::solvers
