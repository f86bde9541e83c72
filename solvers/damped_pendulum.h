// Damped pendulum, the APHYNITY setting (Yin et al., ICLR 2021):
//   d²θ/dt² + ω0² sin θ + α dθ/dt = 0,   state (θ, dθ/dt),
// defaults ω0 = 2π/12 rad/s (period 12 s), α = 0.2 1/s. α may be 0 (stored as
// is, bounds [0, 100]); ω0 is positive (stored as log). Without damping the
// energy ½(dθ/dt)² + ω0²(1 − cos θ) is conserved.
// State [M, B, 2]; parameters "omega0", "alpha".
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "solvers/scientific_model.h"

namespace hybrid::solvers {

class DampedPendulum : public ScientificModel {
 public:
  static absl::StatusOr<std::shared_ptr<DampedPendulum>> Create(const PhysicsOptions& options);
  static const std::vector<ParameterSpec>& Specs();

  int64_t state_dim() const override { return 2; }
  at::Tensor Evaluate(double t, const at::Tensor& x) const override;

 private:
  explicit DampedPendulum(const PhysicsOptions& options) : ScientificModel(Specs(), options) {}
};

}  // namespace hybrid::solvers
