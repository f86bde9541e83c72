// Lorenz-63 (Lorenz 1963, "Deterministic nonperiodic flow"):
//   dx/dt = σ (y − x),   dy/dt = x (ρ − z) − y,   dz/dt = x y − β z
// with defaults σ = 10, ρ = 28, β = 8/3 (the chaotic regime). Dimensionless.
// State [M, B, 3]; parameters "sigma", "rho", "beta", one value per member.
// Structure "beta_term" (1 default, 0: the physics omits −βz, the imperfect
// core of the online-calibration literature, whose gap a closure must learn).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "solvers/physics/scientific_model.h"

namespace hybrid::solvers {

class Lorenz63 : public ScientificModel {
 public:
  static absl::StatusOr<std::shared_ptr<Lorenz63>> Create(const PhysicsOptions& options);
  static const std::vector<ParameterSpec>& Specs();

  int64_t state_dim() const override { return 3; }
  std::vector<StateComponent> Components() const override { return {{"x", "1"}, {"y", "1"}, {"z", "1"}}; }
  at::Tensor Evaluate(double t, const at::Tensor& x) const override;
  const PointwisePhysics* pointwise() const override;

 private:
  Lorenz63(const PhysicsOptions& options, bool beta_term) : ScientificModel(Specs(), options), beta_term_(beta_term) {}
  bool beta_term_;
};

}  // namespace hybrid::solvers
