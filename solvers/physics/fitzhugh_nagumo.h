// FitzHugh–Nagumo reaction–diffusion on a periodic 2-D grid, the APHYNITY
// reaction–diffusion setting (Yin et al., ICLR 2021; Klaasen & Troy 1984):
//   ∂u/∂t = a Δu + u − u³ − v − k,   ∂v/∂t = b Δv + u − v,
// defaults a = 1e-3, b = 5e-3, k = 5e-3 on [−1, 1]² with a 32×32 grid
// (dx = 2/32) and the 5-point Laplacian. Structure: "grid" (N, 4…512),
// "length" (side of the square domain, default 2), "reaction" (1 default;
// 0 keeps the diffusion terms a Δu, b Δv alone: APHYNITY's incomplete
// physics, whose reaction terms a network learns; k is then unused).
// State [M, B, 2·N²]: u then v, each row-major N×N. Parameters "a", "b", "k".
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "solvers/physics/scientific_model.h"

namespace hybrid::solvers {

class FitzHughNagumo : public ScientificModel {
 public:
  static absl::StatusOr<std::shared_ptr<FitzHughNagumo>> Create(const PhysicsOptions& options);
  static const std::vector<ParameterSpec>& Specs();

  int64_t state_dim() const override { return 2 * grid_ * grid_; }
  std::vector<int64_t> FieldShape() const override { return {2, grid_, grid_}; }
  StateGrid Grid() const override { return {{grid_, grid_}, /*periodic=*/true}; }  // u and v share each cell.
  std::vector<StateComponent> Components() const override;
  int64_t grid() const { return grid_; }
  double dx() const { return dx_; }
  at::Tensor Evaluate(double t, const at::Tensor& x) const override;

 private:
  FitzHughNagumo(const PhysicsOptions& options, int64_t grid, double length, bool reaction)
      : ScientificModel(Specs(), options), grid_(grid), dx_(length / static_cast<double>(grid)), reaction_(reaction) {}
  int64_t grid_;
  double dx_;
  bool reaction_;
};

}  // namespace hybrid::solvers
