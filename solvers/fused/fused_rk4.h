// Classical RK4 of a small hybrid model's field as one autograd node: the
// fused ensemble kernel (ensemble_rk4_kernel.h) forward, its discrete adjoint
// backward. HybridModel routes fixed-step RK4 here when it qualifies
// (hybrid_model.h, HasFusedRk4); the LibTorch expression path stays the
// reference that tests hold it to.
//
//   FusedField field = …;   // the model's own tensors: raw θ, layers, scaling
//   at::Tensor path = FusedRk4Path(field, x0, /*h=*/0.01, /*steps=*/100, /*every=*/10);   // [M, B, 10, D]
//
// x0 [M, B, D] (any strides), CPU, float32 or float64 like every tensor of
// the field. Differentiable (first derivatives) wrt x0, the raw θ tensors
// (log-stored when positive: the chain rule through exp is applied here)
// and the MLP's weights and biases; one node records the whole path. Under
// autograd the kernel keeps every step and its stages' activations, so that
// backward evaluates nothing again; past `max_stored_values` it keeps the
// steps only (backward re-evaluates each step's stages), then only the
// outputs (backward recomputes the steps between them). FusedForcedRk4Path
// adds a forecast's stochastic forcing after every step (forward only).
// Thread-safe for concurrent calls on the same field.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "solvers/physics/pointwise_physics.h"

namespace hybrid::solvers {

struct FusedField {
  const PointwisePhysics* physics = nullptr;  // Null: no physics term.
  std::vector<at::Tensor> raw_theta;          // [M] each, in the physics' parameter order.
  std::vector<bool> positive;                 // raw_theta[i] is log(value).
  std::vector<at::Tensor> weights;            // [M, fan_in, fan_out] per layer; empty: no network.
  std::vector<at::Tensor> biases;             // [M, 1, fan_out].
  at::Tensor center, scale, mask;             // [D] each, or undefined.
  double gain = 1.0;
};

// The state after every `every`-th of `steps` steps: [M, B, steps / every, D].
// Preconditions (TORCH_CHECK): steps ≥ 1, steps % every == 0, x0 [M, B, D]
// of the field's dtype on the CPU.
// The field's raw_theta must be as many as its physics' parameters().
at::Tensor FusedRk4Path(const FusedField& field, const at::Tensor& x0, double h, int64_t steps, int64_t every,
                        int64_t max_stored_values = int64_t{1} << 25);

// A field's tensors as the kernel reads them: θ values [M, P] (exp of the
// log-stored ones) in `dtype`, the layers contiguous and 64-byte aligned,
// detached. FusedRk4Path prepares them on every call; a forecast that runs
// many forced stretches prepares them once (holding the field's tensors).
struct PreparedFusedField {
  PreparedFusedField(const FusedField& field, at::ScalarType dtype);
  FusedField field;
  at::Tensor theta;  // Undefined without physics.
  std::vector<at::Tensor> weights, biases;
};

// The model-error forcing of forecasts (ensemble_rk4_kernel.h, StepForcing):
// step i ends x ← max(x + scale ⊙ ξ_i, floor), ξ_i the counter-based draws of
// step first_step + i (step_noise.h).
struct FusedForcing {
  at::Tensor scale;  // [D] √(h · q), contiguous, x0's dtype.
  at::Tensor floor;  // [D] lower bounds, likewise; undefined: none.
  uint64_t seed = 0;
  std::vector<int64_t> rows;  // [B]: each row's index within its own forecast.
  int64_t first_step = 0;
};

// FusedRk4Path with the forcing; not differentiable (TORCH_CHECK when
// autograd would record: forecasts run without it). Preconditions as
// FusedRk4Path's, field prepared in x0's dtype, and rows.size() == B.
at::Tensor FusedForcedRk4Path(const PreparedFusedField& field, const at::Tensor& x0, double h, int64_t steps,
                              int64_t every, const FusedForcing& forcing);

}  // namespace hybrid::solvers
