// Scores of point and probabilistic forecasts against observations.
//
//   double rmse = Rmse(mean, y);
//   double crps = CrpsGaussian(mean, std, y);          // closed form
//   double crps_e = CrpsEnsemble(members, y);          // members [M, ...]
//   double picp = Picp(lower, upper, y);
//
// Every function reduces over all elements and returns a double. Tensors must
// broadcast against y (members: [M, ...y's shape]). Formulas:
//   RMSE = √mean (ŷ − y)², MAE = mean |ŷ − y|, R² = 1 − Σ(ŷ − y)² / Σ(y − ȳ)²;
//   Gaussian NLL = mean [½ log(2πσ²) + (y − μ)² / (2σ²)];
//   CRPS(N(μ, σ²), y) = σ [z(2Φ(z) − 1) + 2φ(z) − 1/√π], z = (y − μ)/σ (Gneiting & Raftery 2007);
//   ensemble CRPS = mean_m |x_m − y| − ½ mean_{m,m'} |x_m − x_m'| (the empirical
//   distribution of the members; no fair-score correction);
//   Gaussian-mixture CRPS (equal weights, Grimit et al. 2006) with
//   E|N(μ, σ²)| = μ(2Φ(μ/σ) − 1) + 2σφ(μ/σ);
//   PICP = share of y in [lower, upper]; mean width = mean (upper − lower);
//   quantile calibration error = mean over levels q of |share(PIT ≤ q) − q|,
//   PIT = the predictive CDF at y;
//   relative parameter error = ‖θ̂ − θ*‖ / ‖θ*‖.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "absl/types/span.h"

namespace hybrid::solvers {

double Rmse(const at::Tensor& prediction, const at::Tensor& y);
double Mae(const at::Tensor& prediction, const at::Tensor& y);
double RSquared(const at::Tensor& prediction, const at::Tensor& y);
double GaussianNll(const at::Tensor& mean, const at::Tensor& std, const at::Tensor& y);
double CrpsGaussian(const at::Tensor& mean, const at::Tensor& std, const at::Tensor& y);
double CrpsEnsemble(const at::Tensor& members, const at::Tensor& y);
// means, stds: [M, ...] equally weighted components; stds > 0.
double CrpsGaussianMixture(const at::Tensor& means, const at::Tensor& stds, const at::Tensor& y);
double Picp(const at::Tensor& lower, const at::Tensor& upper, const at::Tensor& y);
double MeanWidth(const at::Tensor& lower, const at::Tensor& upper);
double QuantileCalibrationError(const at::Tensor& pit, absl::Span<const double> levels);
double RelativeParameterError(absl::Span<const double> estimate, absl::Span<const double> truth);

}  // namespace hybrid::solvers
