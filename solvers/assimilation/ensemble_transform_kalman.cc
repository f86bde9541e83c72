#include "solvers/assimilation/ensemble_transform_kalman.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "solvers/torch_status.h"

namespace hybrid::solvers {
namespace {

absl::Status CheckFinite(const at::Tensor& t, const char* name) {
  if (!at::isfinite(t).all().item<bool>()) return absl::InvalidArgumentError(absl::StrCat(name, " is not finite"));
  return absl::OkStatus();
}

absl::Status CheckArguments(const at::Tensor& states, const at::Tensor& predicted, const at::Tensor& observed,
                            const at::Tensor& noise_std, const EtkfOptions& options) {
  if (!states.defined() || states.dim() != 2 || states.size(0) < 2) {
    return absl::InvalidArgumentError("states must be [K, D] with K ≥ 2 members");
  }
  const int64_t k = states.size(0);
  if (!predicted.defined() || predicted.dim() != 2 || predicted.size(0) != k || predicted.size(1) < 1) {
    return absl::InvalidArgumentError(absl::StrCat("predicted must be [", k, ", P] with P ≥ 1"));
  }
  const int64_t p = predicted.size(1);
  if (!observed.defined() || observed.dim() != 1 || observed.size(0) != p) {
    return absl::InvalidArgumentError(absl::StrCat("observed must be [", p, "]"));
  }
  if (!noise_std.defined() || noise_std.dim() != 1 || noise_std.size(0) != p) {
    return absl::InvalidArgumentError(absl::StrCat("noise_std must be [", p, "]"));
  }
  if (!(options.inflation >= 1.0) || !std::isfinite(options.inflation)) {
    return absl::InvalidArgumentError(absl::StrCat("inflation must be a finite value ≥ 1, got ", options.inflation));
  }
  if (const at::Tensor& rho = options.localization; rho.defined()) {
    if (rho.dim() != 2 || rho.size(0) > states.size(1) || rho.size(1) != p) {
      return absl::InvalidArgumentError(absl::StrCat("localization must be [L ≤ ", states.size(1), ", ", p, "]"));
    }
    if (!(rho >= 0).logical_and(rho <= 1).all().item<bool>()) {
      return absl::InvalidArgumentError("localization weights must be in [0, 1]");
    }
  }
  if (absl::Status s = CheckFinite(states, "states"); !s.ok()) return s;
  if (absl::Status s = CheckFinite(predicted, "predicted"); !s.ok()) return s;
  if (absl::Status s = CheckFinite(observed, "observed"); !s.ok()) return s;
  if (absl::Status s = CheckFinite(noise_std, "noise_std"); !s.ok()) return s;
  if (!(noise_std > 0).all().item<bool>()) return absl::InvalidArgumentError("noise_std must be > 0");
  return absl::OkStatus();
}

// A Haar-random orthogonal K × K matrix Q with Q 1 = 1: the identity on the
// ones direction and a random rotation of its complement. U's first column is
// 1/√K (QR of [1, e2 … eK]); Ω = QR of a Gaussian matrix with R's signs
// folded in (Mezzadri 2007).
at::Tensor MeanPreservingRotation(int64_t k, uint64_t seed) {
  at::Generator generator = at::detail::createCPUGenerator(seed);
  at::Tensor basis = at::eye(k, at::kDouble);
  basis.select(1, 0).fill_(1.0);
  const at::Tensor u = std::get<0>(at::linalg_qr(basis));
  const auto [q, r] = at::linalg_qr(at::randn({k - 1, k - 1}, generator, at::kDouble));
  at::Tensor inner = at::eye(k, at::kDouble);
  inner.narrow(0, 1, k - 1).narrow(1, 1, k - 1).copy_(q * at::sign(at::diagonal(r)));
  return at::matmul(at::matmul(u, inner), u.t());
}

}  // namespace

absl::StatusOr<at::Tensor> EtkfAnalysis(const at::Tensor& states, const at::Tensor& predicted,
                                        const at::Tensor& observed, const at::Tensor& noise_std,
                                        const EtkfOptions& options) {
  if (absl::Status s = CheckArguments(states, predicted, observed, noise_std, options); !s.ok()) return s;
  return RunCatchingTorch("ETKF analysis", [&]() -> absl::StatusOr<at::Tensor> {
    at::NoGradGuard no_grad;
    const at::Tensor x = states.to(at::kDouble), y = predicted.to(at::kDouble);
    const int64_t k = x.size(0);
    const at::Tensor x_mean = x.mean(0), y_mean = y.mean(0);
    const at::Tensor x_anomalies = (x - x_mean) * options.inflation;  // [K, D]
    const at::Tensor y_anomalies = (y - y_mean) * options.inflation;  // [K, P]
    // The distinct precisions of the readings, R_g⁻¹ [G, P], the global one
    // last; localised, also which of them column i uses, [D].
    at::Tensor precisions = noise_std.to(at::kDouble).pow(-2).unsqueeze(0);
    at::Tensor group_of_column;
    if (options.localization.defined()) {
      const auto unique = at::unique_dim(options.localization.to(at::kDouble), 0, /*sorted=*/true,
                                         /*return_inverse=*/true);
      const at::Tensor& rows = std::get<0>(unique);
      precisions = at::cat({rows * precisions, precisions});
      group_of_column = at::full({x.size(1)}, rows.size(0), at::kLong);
      group_of_column.narrow(0, 0, options.localization.size(0)).copy_(std::get<1>(unique));
    }
    const at::Tensor c = y_anomalies.unsqueeze(0) * precisions.unsqueeze(1);  // Y' R_g⁻¹, [G, K, P]
    const at::Tensor precision =
        at::eye(k, x.options()) * static_cast<double>(k - 1) + at::matmul(c, y_anomalies.t());  // P̃_g⁻¹, [G, K, K]
    // P̃⁻¹ is symmetric positive definite: one eigendecomposition gives P̃ and [(K − 1) P̃]^½.
    const auto [eigenvalues, eigenvectors] = at::linalg_eigh(precision);
    const at::Tensor inverse = at::matmul(eigenvectors / eigenvalues.unsqueeze(1), eigenvectors.transpose(1, 2));
    at::Tensor root = at::matmul(eigenvectors * (static_cast<double>(k - 1) / eigenvalues).sqrt().unsqueeze(1),
                                 eigenvectors.transpose(1, 2));  // W_g
    if (options.rotation_seed) root = at::matmul(root, MeanPreservingRotation(k, *options.rotation_seed));
    const at::Tensor innovation = observed.to(at::kDouble) - y_mean;                              // [P]
    const at::Tensor mean_weights = at::matmul(inverse, at::matmul(c, innovation).unsqueeze(2));  // w̄_g, [G, K, 1]
    const at::Tensor weights = root + mean_weights;                                               // [G, K, K]
    if (!group_of_column.defined()) return x_mean + at::matmul(weights[0].t(), x_anomalies);
    // x_ki = x̄_i + Σ_j weights[g(i)]_jk X'_ji
    return x_mean + at::einsum("ijk,ji->ki", {weights.index_select(0, group_of_column), x_anomalies});
  });
}

}  // namespace hybrid::solvers
