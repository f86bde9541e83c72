#include "solvers/lorenz96.h"

#include <ATen/ATen.h>

namespace hybrid::solvers {

const std::vector<ParameterSpec>& Lorenz96::Specs() {
  static const std::vector<ParameterSpec> specs = {{"F", "1", 8.0, 1e-3, 1e3, "forcing"}};
  return specs;
}

absl::StatusOr<std::shared_ptr<Lorenz96>> Lorenz96::Create(const PhysicsOptions& options) {
  if (absl::Status s = Validate(Specs(), options); !s.ok()) return s;
  if (absl::Status s = CheckStructureKeys(options, {"n"}); !s.ok()) return s;
  absl::StatusOr<int64_t> n = StructureInt(options, "n", 40, 4, 100000);
  if (!n.ok()) return n.status();
  return std::shared_ptr<Lorenz96>(new Lorenz96(options, *n));
}

at::Tensor Lorenz96::Evaluate(double /*t*/, const at::Tensor& x) const {
  CheckState(x);
  // roll(x, s)[i] = x[i − s]
  return (at::roll(x, -1, 2) - at::roll(x, 2, 2)) * at::roll(x, 1, 2) - x + MemberValue(0, 3);
}

}  // namespace hybrid::solvers
