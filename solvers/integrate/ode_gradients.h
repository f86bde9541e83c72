// Differentiable ODE solves with a choice of how gradients are computed.
//
//   OdeGradientOptions g;
//   g.method = OdeGradientMethod::kAdjoint;
//   g.parameters = model->parameters();          // the tensors f reads that need gradients
//   absl::StatusOr<Trajectory> r = SolveOdeDifferentiable(field, x0, 0.0, times, solver_options, g);
//   loss(r->states).backward();                  // fills x0.grad() and each parameter's grad()
//
// - kBackprop: autograd records every stage (SolveOde as it is). Memory grows
//   with the number of steps; gradients are exact for the discrete solution.
// - kRecomputeSegments: the forward pass keeps every `segment_steps`-th state; the
//   backward pass recomputes each segment with autograd. Same gradients as
//   backprop (to rounding), memory ~ steps / k + k.
// - kAdjoint (Chen et al., NeurIPS 2018, "Neural ordinary differential
//   equations"): the backward pass integrates, backwards in time,
//     dz/dt = f(t, z),  da/dt = −aᵀ ∂f/∂z,  da_θ/dt = −aᵀ ∂f/∂θ
//   with the solver options of the forward pass, adding each output's incoming
//   gradient to a as it passes its time, and resetting z to the stored forward
//   output there. Memory does not grow with the number of steps; the gradient
//   is that of the exact flow, so it matches backprop to the solver's accuracy.
//
// `field` must stay alive until backward has run (hence shared_ptr). Gradients
// reach x0 and the listed parameters only: with kRecomputeSegments or kAdjoint any
// other tensor f reads is treated as a constant. The returned states carry the
// autograd history; stats and schedule describe the forward pass.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "solvers/integrate/ode_solver.h"
#include "solvers/integrate/vector_field.h"

namespace hybrid::solvers {

enum class OdeGradientMethod { kBackprop, kRecomputeSegments, kAdjoint };

struct OdeGradientOptions {
  OdeGradientMethod method = OdeGradientMethod::kBackprop;
  std::vector<at::Tensor> parameters;  // kRecomputeSegments / kAdjoint: what f reads that needs gradients.
  int64_t segment_steps = 64;          // kRecomputeSegments: steps per recomputed segment.
};

absl::StatusOr<Trajectory> SolveOdeDifferentiable(std::shared_ptr<const VectorField> field, const at::Tensor& x0,
                                                  double t0, absl::Span<const double> times,
                                                  const SolverOptions& options, const OdeGradientOptions& gradients);

}  // namespace hybrid::solvers
