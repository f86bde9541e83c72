// Fisher–KPP tumour growth (Fisher 1937; Kolmogorov, Petrovsky & Piskunov
// 1937; as in Swanson et al. 2000 for glioma):
//   ∂u/∂t = D Δu + r u (1 − u)
// for a cell density u ∈ [0, 1] on a 1-D or 2-D grid with zero-flux
// (Neumann) boundaries, so that total mass changes only by growth:
//   d/dt Σu = r Σ u (1 − u)   (exactly, for the discrete Laplacian used here).
// Defaults D = 1e-3 length²/day, r = 1 1/day on [0, 1] (or [0, 1]²) with 64 points
// per side. Structure: "dims" (1 or 2), "grid" (N, 4…4096), "length" (default 1).
// State [M, B, N] (1-D) or [M, B, N²] (2-D, row-major). Parameters "D", "r".
#include <ATen/ATen.h>

#include <memory>

#include "absl/status/statusor.h"
#include "solvers/physics/grid_laplacian.h"
#include "solvers/physics/physics_catalog.h"
#include "solvers/physics/scientific_model.h"

namespace hybrid::solvers {
namespace {

const std::vector<ParameterSpec>& FisherKppSpecs() {
  static const std::vector<ParameterSpec> specs = {
      {"D", "length²/day", 1e-3, 1e-9, 10.0, "diffusion (cell motility)"},
      {"r", "1/day", 1.0, 1e-6, 100.0, "proliferation rate"},
  };
  return specs;
}

class FisherKpp final : public ScientificModel {
 public:
  FisherKpp(const PhysicsOptions& options, int64_t dims, int64_t grid, double length)
      : ScientificModel(FisherKppSpecs(), options), dims_(dims), grid_(grid), dx_(length / static_cast<double>(grid)) {}
  int64_t state_dim() const override { return dims_ == 1 ? grid_ : grid_ * grid_; }
  // Cell density relative to the carrying capacity.
  std::vector<StateComponent> Components() const override {
    return GridComponents("density", "1", grid_, dims_ == 1 ? 0 : grid_, /*non_negative=*/true);
  }
  StateGrid Grid() const override {  // Zero-flux walls: no wrap-around.
    return {dims_ == 1 ? std::vector<int64_t>{grid_} : std::vector<int64_t>{grid_, grid_}, /*periodic=*/false};
  }
  at::Tensor Evaluate(double t, const at::Tensor& x) const override;

 private:
  int64_t dims_;
  int64_t grid_;
  double dx_;
};

absl::StatusOr<std::shared_ptr<ScientificModel>> CreateFisherKpp(const PhysicsOptions& options) {
  ScientificModel::OptionsReader read(FisherKppSpecs(), options, {"dims", "grid", "length"});
  const int64_t dims = read.Int("dims", 1, 1, 2);
  const int64_t grid = read.Int("grid", 64, 4, 4096);
  const double length = read.Real("length", 1.0, 1e-6, 1e6);
  if (!read.status().ok()) return read.status();
  return std::make_shared<FisherKpp>(options, dims, grid, length);
}

}  // namespace

at::Tensor FisherKpp::Evaluate(double /*t*/, const at::Tensor& x) const {
  CheckState(x);
  const int64_t m = x.size(0), b = x.size(1), n = grid_;
  const at::Tensor diffusion =
      dims_ == 1 ? ZeroFluxLaplacian1d(x, dx_) : ZeroFluxLaplacian2d(x.view({m, b, n, n}), dx_).view({m, b, n * n});
  return MemberValue(0, 3) * diffusion + MemberValue(1, 3) * x * (1.0 - x);
}

HYBRID_REGISTER_PHYSICS(fisher_kpp,
                        "Fisher-KPP tumour growth on a zero-flux 1-D or 2-D grid (D, r); structure dims, grid, length",
                        CreateFisherKpp)

}  // namespace hybrid::solvers
