// BlackBoxPhysics: a BlackBoxStep as the physics of a HybridModel. Its
// parameters θ are ordinary ScientificModel parameters (per member, log-stored
// when positive, clamped, checkpointed, reported), but the dynamics are the
// solver's step Ψ(x; θ, h, n), which autograd cannot see. A hybrid built on it
// advances by x ← Ψ(x; θ) + h·g(x; φ) (the EGA paper's hybrid step), so its
// network is calibrated by the EGA calibrators and θ by the ensemble Kalman
// update (online_calibrator.h).
//
//   auto physics = BlackBoxPhysics::Create(MakeLorenz96Step(40), options).value();
//   at::Tensor next = physics->Advance(x, /*h=*/0.05, /*steps=*/1);  // x [M, B, 40]
//
// Evaluate has no meaning here and throws; integrators use the hybrid's
// DiscreteStep instead (vector_field.h). Thread-safety: const methods are safe
// from several threads (the step must be, see black_box_step.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "solvers/black_box/black_box_step.h"
#include "solvers/physics/scientific_model.h"

namespace hybrid::solvers {

// The specs ScientificModel keeps for described parameters (a plugin's, a
// TorchScript module's), in their order.
std::vector<ParameterSpec> SpecsOf(const std::vector<BlackBoxParameter>& parameters);

class BlackBoxPhysics : public ScientificModel {
 public:
  // INVALID_ARGUMENT as ScientificModel::Validate (unknown names, values
  // outside the step's bounds, members < 1).
  static absl::StatusOr<std::shared_ptr<BlackBoxPhysics>> Create(std::shared_ptr<const BlackBoxStep> step,
                                                                 const PhysicsOptions& options);
  // The plain-C++ steps (native_lorenz_steps.h) by name, with the structure
  // keys of their LibTorch twins: "lorenz63_step" (beta_term 0 or 1, default 1)
  // or "lorenz96_step" (n in [4, 100000], default 40). INVALID_ARGUMENT naming
  // the structure key otherwise.
  static absl::StatusOr<std::shared_ptr<BlackBoxPhysics>> CreateNative(const std::string& physics,
                                                                       const PhysicsOptions& options);

  int64_t state_dim() const override { return step_->state_dim(); }
  at::Tensor Evaluate(double t, const at::Tensor& x) const override;  // Throws: no vector field.

  // Ψ(x; θ_m, h, steps) for every member m: x [M, B, D] → [M, B, D] in x's
  // dtype, outside autograd. Throws SolverFailure (torch_status.h) with the
  // solver's message when the step fails.
  at::Tensor Advance(const at::Tensor& x, double h, int64_t steps) const;
  // ∂Ψ/∂x at x from the tangent-linear model, [M, B, D, D] (row i: output i).
  // Throws c10::Error unless step().has_tangent_linear(); SolverFailure when it fails.
  at::Tensor Jacobian(const at::Tensor& x, double h, int64_t steps) const;

  const BlackBoxStep& step() const { return *step_; }
  std::shared_ptr<const BlackBoxStep> shared_step() const { return step_; }

 private:
  BlackBoxPhysics(std::shared_ptr<const BlackBoxStep> step, std::vector<ParameterSpec> specs,
                  const PhysicsOptions& options);
  // θ as doubles, [M][P] in the step's parameter order.
  std::vector<std::vector<double>> MemberTheta() const;

  std::shared_ptr<const BlackBoxStep> step_;
};

}  // namespace hybrid::solvers
