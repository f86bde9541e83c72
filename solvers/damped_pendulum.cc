#include "solvers/damped_pendulum.h"

#include <ATen/ATen.h>

#include <cmath>

namespace hybrid::solvers {

const std::vector<ParameterSpec>& DampedPendulum::Specs() {
  static const std::vector<ParameterSpec> specs = {
      {"omega0", "rad/s", 2.0 * M_PI / 12.0, 1e-3, 1e3, "natural angular frequency"},
      {"alpha", "1/s", 0.2, 0.0, 100.0, "damping rate", /*positive=*/false},
  };
  return specs;
}

absl::StatusOr<std::shared_ptr<DampedPendulum>> DampedPendulum::Create(const PhysicsOptions& options) {
  if (absl::Status s = Validate(Specs(), options); !s.ok()) return s;
  if (absl::Status s = CheckStructureKeys(options, {}); !s.ok()) return s;
  return std::shared_ptr<DampedPendulum>(new DampedPendulum(options));
}

at::Tensor DampedPendulum::Evaluate(double /*t*/, const at::Tensor& x) const {
  CheckState(x);
  const at::Tensor theta = x.select(2, 0);
  const at::Tensor omega = x.select(2, 1);
  const at::Tensor omega0 = MemberValue(0, 2);
  return at::stack({omega, -omega0 * omega0 * at::sin(theta) - MemberValue(1, 2) * omega}, 2);
}

}  // namespace hybrid::solvers
