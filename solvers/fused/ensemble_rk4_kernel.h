// Classical RK4 of a small hybrid model for a whole ensemble in one kernel,
// with the discrete adjoint (an analytic vector-Jacobian product of every
// stage) for training: the fused path of solvers/fused/fused_rk4.h. No
// LibTorch: raw arrays in, raw arrays out; the layers' forward products and
// tanh through xsimd (one summation order per entry, so a row's values do not
// depend on its batch), the backward's through Eigen, compiled for the build
// machine's vector units.
//
//   HybridFieldArrays<double> field;   // views of θ values and the MLP's tensors
//   Rk4Forward(field, x0, h, steps, every, path);                 // path [M, steps/every + 1, B, D]
//   Rk4Backward(field, path, h, steps, every, grad_path, grad_x0, gradients);
//
// The field of member m is
//   F_m(x) = f(x; θ_m) + gain · mask ⊙ MLP_m((x − center) / scale)
// with f a PointwisePhysics (optional), MLP_m a tanh network
// h ← tanh(h W_k[m] + b_k[m]) without tanh on its last layer (optional),
// center/scale/mask per component (optional: 0, 1, all ones). Members are
// independent, so the kernel runs one member's whole trajectory at a time
// (its buffers stay in cache) and allocates once per call, never per step.
//
// Layouts (row-major, contiguous): states [M, B, D]; θ [M, P]; weight k
// [M, widths[k], widths[k+1]]; bias k [M, widths[k+1]]. path holds the start
// and the state after every `every`-th step (steps % every == 0); Rk4Backward
// recomputes each stretch of `every` steps from it (memory ∝ steps/every +
// every), or, when the forward recorded every step's stages, reads them. Gradients are accumulated (+=) into what the
// caller zeroed; a null θ gradient or empty weight gradients are not computed. Thread-safe: calls share nothing but
// their const inputs.
#pragma once

#include <cstdint>
#include <vector>

#include "solvers/fused/step_noise.h"
#include "solvers/physics/pointwise_physics.h"

namespace hybrid::solvers {

template <typename T>
struct HybridFieldArrays {
  int64_t members = 1;
  int64_t batch = 1;
  int64_t dim = 0;
  const PointwisePhysics* physics = nullptr;  // Null: no physics term.
  const T* theta = nullptr;                   // [M, P] physical values.
  std::vector<int64_t> widths;                // D, hidden…, D; empty: no network.
  std::vector<const T*> weights;              // One per layer.
  std::vector<const T*> biases;
  const T* center = nullptr;  // [D] or null.
  const T* scale = nullptr;   // [D] or null.
  const T* mask = nullptr;    // [D] or null.
  T gain = 1;
};

template <typename T>
struct HybridFieldGradients {
  T* theta = nullptr;       // [M, P] or null.
  std::vector<T*> weights;  // As HybridFieldArrays::weights, or empty.
  std::vector<T*> biases;
};

// A stochastic forcing after every step (forecasts' model error): step i of
// member m ends x ← max(x + scale ⊙ ξ, floor), ξ = StepNormals(noise,
// first_step + i, m) rounded to T — the order of the LibTorch path
// (perturbed_forecast.cc), so the two agree to rounding. Forward only.
template <typename T>
struct StepForcing {
  const T* scale = nullptr;  // [D]: √(h · q).
  const T* floor = nullptr;  // [D] lower bounds (−∞: none), or null.
  StepNoise noise;           // batch and dim as the field's.
  int64_t first_step = 0;
};

// path[m, 0] = x0[m]; path[m, j] = the state after j·every steps of size h.
// stage_record (optional, every == 1 only): StageRecordSize(field, steps)
// values where every step's stage inputs and activations are kept, so that
// Rk4Backward need not evaluate the field again. forcing (optional, without
// stage_record): added after every step.
template <typename T>
void Rk4Forward(const HybridFieldArrays<T>& field, const T* x0, T h, int64_t steps, int64_t every, T* path,
                T* stage_record = nullptr, const StepForcing<T>* forcing = nullptr);

// grad_path [M, steps/every + 1, B, D]: the loss's gradient wrt each stored
// state (entry 0: wrt x0 directly). Writes grad_x0 [M, B, D] (the total
// gradient wrt the start) and accumulates θ's and the network's. With the
// forward's stage_record, reads the stages from it instead of recomputing.
template <typename T>
void Rk4Backward(const HybridFieldArrays<T>& field, const T* path, T h, int64_t steps, int64_t every,
                 const T* grad_path, T* grad_x0, const HybridFieldGradients<T>& gradients,
                 const T* stage_record = nullptr);

template <typename T>
int64_t StageRecordSize(const HybridFieldArrays<T>& field, int64_t steps);

#define HYBRID_DECLARE(T)                                                                                       \
  extern template int64_t StageRecordSize<T>(const HybridFieldArrays<T>&, int64_t);                             \
  extern template void Rk4Forward<T>(const HybridFieldArrays<T>&, const T*, T, int64_t, int64_t, T*, T*,        \
                                     const StepForcing<T>*);                                                    \
  extern template void Rk4Backward<T>(const HybridFieldArrays<T>&, const T*, T, int64_t, int64_t, const T*, T*, \
                                      const HybridFieldGradients<T>&, const T*);
HYBRID_DECLARE(float)
HYBRID_DECLARE(double)
#undef HYBRID_DECLARE

}  // namespace hybrid::solvers
