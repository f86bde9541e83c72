// Forecast samples that carry a forecast's whole uncertainty: each ensemble
// member forecasts from K starts drawn around the given state, x0 + σ0 ⊙ ε
// (ε ~ N(0, I): the start is itself an observation), and — for Predict — with
// a stochastic model-error forcing √(h·q) ⊙ ξ added after every fixed step
// (forecast_error_model.h), so that the spread grows with the dynamics.
//
//   SampleOptions o;
//   o.initial_std = sigma0;
//   o.model_error_rate = q;
//   o.per_member = 8;
//   absl::StatusOr<at::Tensor> s = ForecastSamples(model, x0, times, solver, o);   // [M·K, T, B, D]
//   at::Tensor w = WindowSamples(model, start, h, n, sigma0, 8, generator);       // [M·K, W, n, D]
//   auto both = ForecastSamplesTogether(model, {x0, y0}, times, solver, o);        // one solve, two answers
//
// Rows are member-major (row m·K + k: member m, draw k). With nothing random
// (σ0 and q zero or undefined) K is taken as 1 and the rows are the members'
// plain forecasts, bit for bit. x0: [B, D] (every member from the same
// states) or [M, B, D] (member m from its own: an analysis ensemble); start:
// [W, D]; in the model's dtype; σ0 and q: [D], ≥ 0. Deterministic for a seed (Predict answers of one
// version are identical); thread-safe as the model is (const). Errors: those of
// SolveOde (ForecastSamples); WindowSamples throws SolverFailure like
// ForecastPath. ForecastSamplesTogether solves several forecasts of one grid
// as one [M, ΣK·B_r, D] ensemble (dynamic batching of Predict): forecast r
// draws its starts from its own generator seeded o.seed and its forcing by
// counter (solvers/fused/step_noise.h: step, member, its own row index), so
// its samples are those of ForecastSamples(model, x0s[r], ...) whenever the
// vector field computes each row independently of the others — bit for bit
// on the fused path (tested), to rounding where a kernel's vector/scalar split
// moves with the batch size. On the fused path (HybridModel::HasFusedRk4, no
// input rate, outside autograd) each stretch of forced steps is one kernel call.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "solvers/hybrid/hybrid_model.h"
#include "solvers/integrate/ode_solver.h"

namespace hybrid::solvers {

struct SampleOptions {
  at::Tensor initial_std{};       // [D]; undefined or 0: an exact start.
  at::Tensor model_error_rate{};  // [D] variance per unit time; undefined or 0: none.
  int64_t per_member = 1;         // K ≥ 1.
  uint64_t seed = 0;
  at::Tensor rate{};  // [D] constant forcing added to dx/dt (an input rate); undefined: none.
};

// Fixed-step RK4 (solver.step the largest step) to every output time.
absl::StatusOr<at::Tensor> ForecastSamples(const HybridModel& model, const at::Tensor& x0,
                                           absl::Span<const double> times, const SolverOptions& solver,
                                           const SampleOptions& options);

// x0s: [B_r, D] each (or one [M, B, D]); answers [M·K, T, B_r, D] each, in order.
absl::StatusOr<std::vector<at::Tensor>> ForecastSamplesTogether(const HybridModel& model,
                                                                absl::Span<const at::Tensor> x0s,
                                                                absl::Span<const double> times,
                                                                const SolverOptions& solver,
                                                                const SampleOptions& options);

// Calibration windows: the path after each of `steps` steps of size `step`
// from K perturbed copies of every start, no forcing (the window's innovation
// is what tells the model error).
at::Tensor WindowSamples(const HybridModel& model, const at::Tensor& start, double step, int64_t steps,
                         const at::Tensor& start_std, int64_t per_member, at::Generator& generator);

// True when any entry of `t` (defined) is > 0.
bool AnyPositive(const at::Tensor& t);

}  // namespace hybrid::solvers
