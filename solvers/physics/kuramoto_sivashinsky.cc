#include "solvers/physics/kuramoto_sivashinsky.h"

#include <ATen/ATen.h>

#include <cmath>

#include "solvers/physics/physics_catalog.h"

namespace hybrid::solvers {

const std::vector<ParameterSpec>& KuramotoSivashinsky::Specs() {
  static const std::vector<ParameterSpec> specs = {{"nu", "length⁴/time", 1.0, 1e-4, 1e4, "hyperviscosity"}};
  return specs;
}

absl::StatusOr<std::shared_ptr<KuramotoSivashinsky>> KuramotoSivashinsky::Create(const PhysicsOptions& options) {
  OptionsReader read(Specs(), options, {"n", "length"});
  const int64_t n = read.Int("n", 64, 8, 4096);
  if (read.status().ok() && n % 2 != 0) return absl::InvalidArgumentError("structure.n must be even");
  const double length = read.Real("length", 22.0, 1e-6, 1e6);
  if (!read.status().ok()) return read.status();
  return std::shared_ptr<KuramotoSivashinsky>(new KuramotoSivashinsky(options, n, length));
}

KuramotoSivashinsky::KuramotoSivashinsky(const PhysicsOptions& options, int64_t n, double length)
    : ScientificModel(Specs(), options), n_(n), length_(length) {
  // A buffer, so that module.to(device) moves it with the parameters.
  wavenumbers_ = register_buffer(
      "wavenumbers", (2.0 * M_PI / length) * at::arange(n / 2 + 1, at::TensorOptions().dtype(options.dtype)));
}

at::Tensor KuramotoSivashinsky::ToSpectral(const at::Tensor& u) const { return at::fft_rfft(u, c10::nullopt, -1); }

at::Tensor KuramotoSivashinsky::FromSpectral(const at::Tensor& v) const { return at::fft_irfft(v, n_, -1); }

at::Tensor KuramotoSivashinsky::LinearSymbol() const {
  const at::Tensor k2 = wavenumbers_.pow(2);
  return k2 - MemberValue(0, 3) * k2 * k2;  // [M, 1, K]
}

at::Tensor KuramotoSivashinsky::NonlinearSpectral(const at::Tensor& v) const {
  // −u u_x = −(u²)_x / 2  →  −(i k / 2) FFT(u²).
  const at::Tensor u = FromSpectral(v);
  const at::Tensor ik = at::complex(at::zeros_like(wavenumbers_), wavenumbers_);
  return -0.5 * ik * ToSpectral(u * u);
}

at::Tensor KuramotoSivashinsky::Evaluate(double /*t*/, const at::Tensor& u) const {
  CheckState(u);
  const at::Tensor v = ToSpectral(u);
  return FromSpectral(LinearSymbol() * v + NonlinearSpectral(v));
}

HYBRID_REGISTER_PHYSICS(kuramoto_sivashinsky,
                        "Kuramoto-Sivashinsky on a periodic 1-D domain (nu), stepped by ETDRK4; structure n, length",
                        CatalogFactory<KuramotoSivashinsky>)

}  // namespace hybrid::solvers
