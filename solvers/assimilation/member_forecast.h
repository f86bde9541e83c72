// The forecast step of a filter: every ensemble member advanced from its own
// state with its own parameters, so that an entity's ensemble carries both
// state and model uncertainty from one observation to the next.
//
//   at::Tensor x = AdvanceMembers(model, states, /*from=*/0.0, /*to=*/0.05, /*max_step=*/0.01, rate);
//
// states [M, B, D] (member m is advanced by member m of `model`), in the
// model's dtype. The interval [from, to] is covered by ⌈(to − from) / max_step⌉
// equal classical RK4 steps (the black box's own step for black-box physics),
// at least one; to == from returns `states` unchanged. `rate` [D] (undefined:
// none) is a constant forcing added to dx/dt — a piecewise-constant input such
// as an infusion, in state units per time unit; for black-box physics it is
// added as h·rate after each step. Autograd is recorded only with
// `with_gradient` (through the model's θ and φ, for a loss on the forecast;
// differentiable physics only). Preconditions
// (TORCH_CHECK): to ≥ from, max_step > 0, states' shape. Thread-safe as the
// model is (const).
#pragma once

#include <ATen/core/Tensor.h>

#include "solvers/hybrid/hybrid_model.h"

namespace hybrid::solvers {

at::Tensor AdvanceMembers(const HybridModel& model, const at::Tensor& states, double from, double to, double max_step,
                          const at::Tensor& rate, bool with_gradient = false);

}  // namespace hybrid::solvers
