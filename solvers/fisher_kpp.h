// Fisher–KPP tumour growth (Fisher 1937; Kolmogorov, Petrovsky & Piskunov
// 1937; as in Swanson et al. 2000 for glioma):
//   ∂u/∂t = D Δu + r u (1 − u)
// for a cell density u ∈ [0, 1] on a 1-D or 2-D grid with zero-flux
// (Neumann) boundaries, so that total mass changes only by growth:
//   d/dt Σu = r Σ u (1 − u)   (exactly, for the discrete Laplacian used here).
// Defaults D = 1e-3 length²/day, r = 1 1/day on [0, 1] (or [0, 1]²) with 64 points
// per side. Structure: "dims" (1 or 2), "grid" (N, 4…4096), "length" (default 1).
// State [M, B, N] (1-D) or [M, B, N²] (2-D, row-major). Parameters "D", "r".
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "solvers/scientific_model.h"

namespace hybrid::solvers {

class FisherKpp : public ScientificModel {
 public:
  static absl::StatusOr<std::shared_ptr<FisherKpp>> Create(const PhysicsOptions& options);
  static const std::vector<ParameterSpec>& Specs();

  int64_t state_dim() const override { return dims_ == 1 ? grid_ : grid_ * grid_; }
  at::Tensor Evaluate(double t, const at::Tensor& x) const override;

 private:
  FisherKpp(const PhysicsOptions& options, int64_t dims, int64_t grid, double length)
      : ScientificModel(Specs(), options), dims_(dims), grid_(grid), dx_(length / static_cast<double>(grid)) {}
  int64_t dims_;
  int64_t grid_;
  double dx_;
};

}  // namespace hybrid::solvers
