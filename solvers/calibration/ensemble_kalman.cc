#include "solvers/calibration/ensemble_kalman.h"

#include <ATen/ATen.h>

#include <cmath>

namespace hybrid::solvers {

at::Tensor EnsembleKalmanUpdate(const at::Tensor& theta_in, const at::Tensor& prediction, const at::Tensor& observation,
                                const at::Tensor& noise_std, double inflation, at::Generator& generator) {
  at::NoGradGuard no_grad;
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const int64_t m = theta_in.size(0);
  TORCH_CHECK(m >= 2, "ensemble Kalman update needs at least 2 members, got ", m);
  at::Tensor theta = theta_in.to(at::kDouble);
  const at::Tensor theta_mean = theta.mean(0, /*keepdim=*/true);
  theta = theta_mean + inflation * (theta - theta_mean);

  // Whitened: every observed value has unit noise.
  const at::Tensor sigma = noise_std.to(at::kDouble);
  const at::Tensor p = prediction.to(at::kDouble) / sigma;                 // [M, Q]
  const at::Tensor y = observation.to(at::kDouble) / sigma;                // [Q]
  const at::Tensor eta = at::normal(0.0, 1.0, p.sizes(), generator, f64);  // [M, Q]
  const double scale = 1.0 / std::sqrt(static_cast<double>(m - 1));
  const at::Tensor a = (p - p.mean(0, true)) * scale;          // [M, Q]: C_pp = aᵀa
  const at::Tensor b = (theta - theta.mean(0, true)) * scale;  // [M, P]: C_θp = bᵀa
  const at::Tensor innovation = y.unsqueeze(0) + eta - p;      // [M, Q]

  // (aᵀa + I)⁻¹ r for every member's innovation r, in the smaller of the two
  // spaces: directly when Q ≤ M, else r − aᵀ (I + a aᵀ)⁻¹ a r (Woodbury, M×M).
  const int64_t q = p.size(1);
  at::Tensor solved;  // [Q, M]
  if (q <= m) {
    solved = at::linalg_solve(at::eye(q, f64) + at::matmul(a.t(), a), innovation.t());
  } else {
    const at::Tensor small = at::eye(m, f64) + at::matmul(a, a.t());
    solved = innovation.t() - at::matmul(a.t(), at::linalg_solve(small, at::matmul(a, innovation.t())));
  }
  const at::Tensor gain_times_r = at::matmul(b.t(), at::matmul(a, solved));  // [P, M]
  return theta + gain_times_r.t();
}

}  // namespace hybrid::solvers
