#include "solvers/physics/fitzhugh_nagumo.h"

#include <ATen/ATen.h>

#include "solvers/physics/grid_laplacian.h"
#include "solvers/physics/physics_catalog.h"

namespace hybrid::solvers {

const std::vector<ParameterSpec>& FitzHughNagumo::Specs() {
  static const std::vector<ParameterSpec> specs = {
      {"a", "length²/time", 1e-3, 1e-8, 10.0, "diffusion of the activator u"},
      {"b", "length²/time", 5e-3, 1e-8, 10.0, "diffusion of the inhibitor v"},
      {"k", "1", 5e-3, 1e-8, 10.0, "activator threshold"},
  };
  return specs;
}

absl::StatusOr<std::shared_ptr<FitzHughNagumo>> FitzHughNagumo::Create(const PhysicsOptions& options) {
  OptionsReader read(Specs(), options, {"grid", "length", "reaction"});
  const int64_t grid = read.Int("grid", 32, 4, 512);
  const double length = read.Real("length", 2.0, 1e-6, 1e6);
  const bool reaction = read.Int("reaction", 1, 0, 1) == 1;
  if (!read.status().ok()) return read.status();
  return std::shared_ptr<FitzHughNagumo>(new FitzHughNagumo(options, grid, length, reaction));
}

at::Tensor FitzHughNagumo::Evaluate(double /*t*/, const at::Tensor& x) const {
  CheckState(x);
  const int64_t m = x.size(0), b = x.size(1), n = grid_;
  const at::Tensor fields = x.view({m, b, 2, n, n});
  const at::Tensor u = fields.select(2, 0);
  const at::Tensor v = fields.select(2, 1);
  at::Tensor du = MemberValue(0, 4) * PeriodicLaplacian2d(u, dx_);
  at::Tensor dv = MemberValue(1, 4) * PeriodicLaplacian2d(v, dx_);
  if (reaction_) {
    du = du + u - u.pow(3) - v - MemberValue(2, 4);
    dv = dv + u - v;
  }
  return at::stack({du, dv}, 2).view({m, b, 2 * n * n});
}

std::vector<StateComponent> FitzHughNagumo::Components() const {
  std::vector<StateComponent> out = GridComponents("u", "1", grid_, grid_);  // Activator, then inhibitor.
  const std::vector<StateComponent> v = GridComponents("v", "1", grid_, grid_);
  out.insert(out.end(), v.begin(), v.end());
  return out;
}

HYBRID_REGISTER_PHYSICS(fitzhugh_nagumo,
                        "FitzHugh-Nagumo reaction-diffusion, periodic 2-D grid (a, b, k); "
                        "structure grid, length, reaction",
                        CatalogFactory<FitzHughNagumo>)

}  // namespace hybrid::solvers
