// Kuramoto–Sivashinsky on a periodic 1-D domain [0, L):
//   u_t + u u_x + u_xx + ν u_xxxx = 0
// (Kuramoto 1978; Sivashinsky 1977; the chaotic benchmark of Kassam & Trefethen
// 2005), with spectral derivatives via the real FFT. In Fourier space
//   û_t = (k² − ν k⁴) û − (i k / 2) FFT(u²),
// so modes with k² > 1/ν decay and the domain mean (k = 0) is conserved.
// Defaults ν = 1, L = 22, 64 grid points. Structure: "n" (grid points, even,
// 8…4096), "length". State [M, B, n] (values on the grid); parameter "nu".
// Stiff: the k⁴ term limits explicit RK steps to ~2.8/(ν k_max⁴); SolveEtdRk4
// (semilinear.h) takes steps independent of it.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "solvers/integrate/semilinear.h"
#include "solvers/physics/scientific_model.h"

namespace hybrid::solvers {

class KuramotoSivashinsky : public ScientificModel, public SemilinearModel {
 public:
  static absl::StatusOr<std::shared_ptr<KuramotoSivashinsky>> Create(const PhysicsOptions& options);
  static const std::vector<ParameterSpec>& Specs();

  int64_t state_dim() const override { return n_; }
  std::vector<StateComponent> Components() const override { return GridComponents("u", "1", n_); }
  StateGrid Grid() const override { return {{n_}, /*periodic=*/true}; }
  double length() const { return length_; }
  at::Tensor Evaluate(double t, const at::Tensor& u) const override;

  at::Tensor ToSpectral(const at::Tensor& u) const override;
  at::Tensor FromSpectral(const at::Tensor& v) const override;
  at::Tensor LinearSymbol() const override;
  at::Tensor NonlinearSpectral(const at::Tensor& v) const override;

 private:
  KuramotoSivashinsky(const PhysicsOptions& options, int64_t n, double length);
  int64_t n_;
  double length_;
  at::Tensor wavenumbers_;  // [n/2 + 1], 2π j / L.
};

}  // namespace hybrid::solvers
