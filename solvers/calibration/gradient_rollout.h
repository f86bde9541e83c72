// Window forecasts whose values are exact and whose autograd graphs carry the
// gradient approximation of a calibration method (Ouala et al., "Online
// calibration of deep learning sub-models for hybrid numerical modeling
// systems", arXiv 2311.10665: Euler Gradient Approximation, EGA).
//
//   at::Tensor p = RolloutForGradient(model, start, h, n, {GradientMethod::kEgaStatic}, generator);
//   WindowMse(p, end).backward();   // φ (and θ where the method allows) get gradients
//
// Each of the n steps computes the exact hybrid step v = step(x) without
// autograd (RK4 of f + g, or Ψ(x) + h·g(x) for black-box physics), then builds
// a surrogate `out` whose Jacobians define the method and returns
// out + (v − out).detach(): the value is v, the gradient is out's.
//   kBackprop     exact: autograd through every RK4 stage (vector-field physics only).
//   kEgaStatic    out = x + h·g(x̄) + h·f(x̄; θ): ∂x⁺/∂x ≈ I, ∂x⁺/∂φ = h ∂g/∂φ.
//   kEgaJacobian  out = x + h·g(x) + h·f(x̄; θ): ∂x⁺/∂x ≈ I + h ∂g/∂x.
//   kEgaTlm       out = Ψ(x) + h·g(x) with Ψ's tangent-linear model: autograd
//                 through the physics' RK4 step (which also gives θ its exact
//                 one-step gradient), or the black-box's TLM.
//   kEgaEnsemble  as kEgaTlm with ∂Ψ/∂x estimated by least squares from K
//                 perturbed solver runs (EstimateJacobian); no derivatives needed.
// x̄ = x detached. The h·f(x̄; θ) term (vector-field physics only) gives θ its
// first-order gradient h ∂f/∂θ; black-box θ gets none (ensemble Kalman instead).
//
// Shapes: start [W, D] → prediction [M, W, D]. Thread-safety: that of the model
// (const); the generator must not be shared across threads.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "solvers/hybrid/hybrid_model.h"
#include "solvers/hybrid/trajectory_rollout.h"

namespace hybrid::solvers {

enum class GradientMethod { kBackprop, kEgaStatic, kEgaJacobian, kEgaTlm, kEgaEnsemble };

// "backprop" | "ega-static" | "ega-jacobian" | "ega-tlm" | "ega-ensemble".
std::string GradientMethodName(GradientMethod method);

struct GradientOptions {
  GradientMethod method = GradientMethod::kBackprop;
  int64_t ensemble_size = 8;            // K perturbed runs per state (kEgaEnsemble), ≥ 1.
  double ensemble_perturbation = 1e-4;  // Perturbation std relative to 1 + RMS(x).
};

// OK when `method` can calibrate `model`: INVALID_ARGUMENT (naming
// calibration.method) for backprop through black-box physics or ega-tlm with a
// black-box that has no tangent-linear model.
absl::Status CheckGradientMethod(const HybridModel& model, const GradientOptions& options);

// Precondition: CheckGradientMethod is OK; step > 0, steps ≥ 1.
at::Tensor RolloutForGradient(const HybridModel& model, const at::Tensor& start, double step, int64_t steps,
                              const GradientOptions& options, at::Generator& generator);
// The same, returning the state after every step: [M, W, steps, D].
at::Tensor RolloutPathForGradient(const HybridModel& model, const at::Tensor& start, double step, int64_t steps,
                                  const GradientOptions& options, at::Generator& generator);
// The exact values of these paths, without autograd, are ForecastPath's
// (solvers/hybrid/trajectory_rollout.h), as is PhysicsStep.

// ∂Ψ/∂x [M, B, D, D] at x [M, B, D] by least squares on K perturbed physics
// steps: with perturbations Δ [K, D] and responses ΔY = Ψ(x + Δ) − Ψ(x),
// J = (pinv(Δ) ΔY)ᵀ. For K < D this is J restricted to the span of Δ; it tends
// to the tangent-linear model as K grows past D and the perturbation shrinks.
at::Tensor EstimateJacobian(const HybridModel& model, const at::Tensor& x, double h, int64_t ensemble_size,
                            double perturbation, at::Generator& generator);

}  // namespace hybrid::solvers
