#include "solvers/lorenz63.h"

#include <ATen/ATen.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hybrid::solvers {

const std::vector<ParameterSpec>& Lorenz63::Specs() {
  static const std::vector<ParameterSpec> specs = {
      {"sigma", "1", 10.0, 1e-3, 1e3, "Prandtl number"},
      {"rho", "1", 28.0, 1e-3, 1e3, "Rayleigh number (scaled)"},
      {"beta", "1", 8.0 / 3.0, 1e-3, 1e3, "aspect-ratio factor"},
  };
  return specs;
}

absl::StatusOr<std::shared_ptr<Lorenz63>> Lorenz63::Create(const PhysicsOptions& options) {
  if (absl::Status s = Validate(Specs(), options); !s.ok()) return s;
  if (absl::Status s = CheckStructureKeys(options, {}); !s.ok()) return s;
  return std::shared_ptr<Lorenz63>(new Lorenz63(options));
}

at::Tensor Lorenz63::Evaluate(double /*t*/, const at::Tensor& state) const {
  CheckState(state);
  const at::Tensor x = state.select(2, 0);
  const at::Tensor y = state.select(2, 1);
  const at::Tensor z = state.select(2, 2);
  const at::Tensor sigma = MemberValue(0, 2);
  const at::Tensor rho = MemberValue(1, 2);
  const at::Tensor beta = MemberValue(2, 2);
  return at::stack({sigma * (y - x), x * (rho - z) - y, x * y - beta * z}, 2);
}

}  // namespace hybrid::solvers
