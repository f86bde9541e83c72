// Damped pendulum, the APHYNITY setting (Yin et al., ICLR 2021):
//   d²θ/dt² + ω0² sin θ + α dθ/dt = 0,   state (θ, dθ/dt),
// defaults ω0 = 2π/12 rad/s (period 12 s), α = 0.2 1/s. α may be 0 (stored as
// is, bounds [0, 100]); ω0 is positive (stored as log). Without damping the
// energy ½(dθ/dt)² + ω0²(1 − cos θ) is conserved.
// State [M, B, 2]; parameters "omega0", "alpha".
#include <ATen/ATen.h>

#include <cmath>
#include <memory>

#include "absl/status/statusor.h"
#include "solvers/physics/physics_catalog.h"
#include "solvers/physics/scientific_model.h"

namespace hybrid::solvers {
namespace {

const std::vector<ParameterSpec>& DampedPendulumSpecs() {
  static const std::vector<ParameterSpec> specs = {
      {"omega0", "rad/s", 2.0 * M_PI / 12.0, 1e-3, 1e3, "natural angular frequency"},
      {"alpha", "1/s", 0.2, 0.0, 100.0, "damping rate", /*positive=*/false},
  };
  return specs;
}

class DampedPendulum final : public ScientificModel {
 public:
  explicit DampedPendulum(const PhysicsOptions& options) : ScientificModel(DampedPendulumSpecs(), options) {}
  int64_t state_dim() const override { return 2; }
  std::vector<StateComponent> Components() const override { return {{"theta", "rad"}, {"omega", "rad/s"}}; }
  at::Tensor Evaluate(double t, const at::Tensor& x) const override;
};

}  // namespace

at::Tensor DampedPendulum::Evaluate(double /*t*/, const at::Tensor& x) const {
  CheckState(x);
  const at::Tensor theta = x.select(2, 0);
  const at::Tensor omega = x.select(2, 1);
  const at::Tensor omega0 = MemberValue(0, 2);
  return at::stack({omega, -omega0 * omega0 * at::sin(theta) - MemberValue(1, 2) * omega}, 2);
}

HYBRID_REGISTER_PHYSICS(damped_pendulum,
                        "damped pendulum (omega0, alpha), the APHYNITY setting",
                        ParametersOnlyFactory<DampedPendulum, DampedPendulumSpecs>)

}  // namespace hybrid::solvers
