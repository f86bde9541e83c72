#include "solvers/uncertainty/forecast_metrics.h"

#include <ATen/ATen.h>

#include <cmath>

namespace hybrid::solvers {
namespace {

constexpr double kInvSqrtPi = 0.56418958354775628;  // 1/√π
constexpr double kInvSqrt2Pi = 0.3989422804014327;  // 1/√(2π)

at::Tensor NormalPdf(const at::Tensor& z) { return kInvSqrt2Pi * at::exp(-0.5 * z * z); }
at::Tensor NormalCdf(const at::Tensor& z) { return 0.5 * at::erfc(-z * M_SQRT1_2); }

// E|X| for X ~ N(mu, sigma²).
at::Tensor FoldedNormalMean(const at::Tensor& mu, const at::Tensor& sigma) {
  const at::Tensor z = mu / sigma;
  return mu * (2.0 * NormalCdf(z) - 1.0) + 2.0 * sigma * NormalPdf(z);
}

}  // namespace

double Rmse(const at::Tensor& prediction, const at::Tensor& y) {
  return std::sqrt((prediction - y).pow(2).mean().item<double>());
}

double Mae(const at::Tensor& prediction, const at::Tensor& y) { return (prediction - y).abs().mean().item<double>(); }

double RSquared(const at::Tensor& prediction, const at::Tensor& y) {
  const double residual = (prediction - y).pow(2).sum().item<double>();
  const double total = (y - y.mean()).pow(2).sum().item<double>();
  return 1.0 - residual / total;
}

double GaussianNll(const at::Tensor& mean, const at::Tensor& std, const at::Tensor& y) {
  const at::Tensor var = std * std;
  return (0.5 * at::log(2.0 * M_PI * var) + (y - mean).pow(2) / (2.0 * var)).mean().item<double>();
}

double CrpsGaussian(const at::Tensor& mean, const at::Tensor& std, const at::Tensor& y) {
  const at::Tensor z = (y - mean) / std;
  return (std * (z * (2.0 * NormalCdf(z) - 1.0) + 2.0 * NormalPdf(z) - kInvSqrtPi)).mean().item<double>();
}

double CrpsEnsemble(const at::Tensor& members, const at::Tensor& y) {
  const at::Tensor spread = (members.unsqueeze(0) - members.unsqueeze(1)).abs().mean(at::IntArrayRef{0, 1});
  return ((members - y).abs().mean(0) - 0.5 * spread).mean().item<double>();
}

double CrpsGaussianMixture(const at::Tensor& means, const at::Tensor& stds, const at::Tensor& y) {
  const at::Tensor to_y = FoldedNormalMean(means - y, stds).mean(0);
  const at::Tensor pair_sigma = at::sqrt(stds.unsqueeze(0).pow(2) + stds.unsqueeze(1).pow(2));
  const at::Tensor pairs = FoldedNormalMean(means.unsqueeze(0) - means.unsqueeze(1), pair_sigma).mean(at::IntArrayRef{0, 1});
  return (to_y - 0.5 * pairs).mean().item<double>();
}

double Picp(const at::Tensor& lower, const at::Tensor& upper, const at::Tensor& y) {
  return ((y >= lower) & (y <= upper)).to(at::kDouble).mean().item<double>();
}

double MeanWidth(const at::Tensor& lower, const at::Tensor& upper) { return (upper - lower).mean().item<double>(); }

double QuantileCalibrationError(const at::Tensor& pit, absl::Span<const double> levels) {
  double total = 0.0;
  for (double q : levels) total += std::abs((pit <= q).to(at::kDouble).mean().item<double>() - q);
  return levels.empty() ? 0.0 : total / static_cast<double>(levels.size());
}

double RelativeParameterError(absl::Span<const double> estimate, absl::Span<const double> truth) {
  double diff = 0.0;
  double norm = 0.0;
  for (size_t i = 0; i < truth.size(); ++i) {
    diff += (estimate[i] - truth[i]) * (estimate[i] - truth[i]);
    norm += truth[i] * truth[i];
  }
  return std::sqrt(diff / norm);
}

}  // namespace hybrid::solvers
