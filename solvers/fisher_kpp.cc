#include "solvers/fisher_kpp.h"

#include <ATen/ATen.h>

#include "solvers/grid_laplacian.h"

namespace hybrid::solvers {

const std::vector<ParameterSpec>& FisherKpp::Specs() {
  static const std::vector<ParameterSpec> specs = {
      {"D", "length²/day", 1e-3, 1e-9, 10.0, "diffusion (cell motility)"},
      {"r", "1/day", 1.0, 1e-6, 100.0, "proliferation rate"},
  };
  return specs;
}

absl::StatusOr<std::shared_ptr<FisherKpp>> FisherKpp::Create(const PhysicsOptions& options) {
  if (absl::Status s = Validate(Specs(), options); !s.ok()) return s;
  if (absl::Status s = CheckStructureKeys(options, {"dims", "grid", "length"}); !s.ok()) return s;
  absl::StatusOr<int64_t> dims = StructureInt(options, "dims", 1, 1, 2);
  if (!dims.ok()) return dims.status();
  absl::StatusOr<int64_t> grid = StructureInt(options, "grid", 64, 4, 4096);
  if (!grid.ok()) return grid.status();
  absl::StatusOr<double> length = StructureReal(options, "length", 1.0, 1e-6, 1e6);
  if (!length.ok()) return length.status();
  return std::shared_ptr<FisherKpp>(new FisherKpp(options, *dims, *grid, *length));
}

at::Tensor FisherKpp::Evaluate(double /*t*/, const at::Tensor& x) const {
  CheckState(x);
  const int64_t m = x.size(0), b = x.size(1), n = grid_;
  const at::Tensor diffusion =
      dims_ == 1 ? ZeroFluxLaplacian1d(x, dx_) : ZeroFluxLaplacian2d(x.view({m, b, n, n}), dx_).view({m, b, n * n});
  return MemberValue(0, 3) * diffusion + MemberValue(1, 3) * x * (1.0 - x);
}

}  // namespace hybrid::solvers
