#include "solvers/uncertainty/gaussian_mixture.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

namespace hybrid::solvers {

at::Tensor GaussianMixture::Mean() const { return means.mean(0); }

at::Tensor GaussianMixture::Std() const {
  const at::Tensor s = stds.expand_as(means);
  const at::Tensor second_moment = (s * s + means * means).mean(0);
  return at::sqrt(at::clamp_min(second_moment - Mean().pow(2), 0.0));
}

at::Tensor GaussianMixture::Cdf(const at::Tensor& y) const {
  return (0.5 * at::erfc(-(y - means) / stds * M_SQRT1_2)).mean(0);
}

at::Tensor GaussianMixture::Quantile(double q) const {
  // Every component's q-quantile lies within ±12σ of its mean; so does the mixture's.
  const at::Tensor s = stds.expand_as(means);
  at::Tensor lo = (means - 12.0 * s).amin(0);
  at::Tensor hi = (means + 12.0 * s).amax(0);
  for (int i = 0; i < 60; ++i) {
    const at::Tensor mid = 0.5 * (lo + hi);
    const at::Tensor below = Cdf(mid) < q;
    lo = at::where(below, mid, lo);
    hi = at::where(below, hi, mid);
  }
  return 0.5 * (lo + hi);
}

double SplitConformalScale(const at::Tensor& scores, double level) {
  const at::Tensor sorted = std::get<0>(scores.reshape({-1}).to(at::kDouble).sort());
  const int64_t n = sorted.numel();
  const auto rank = static_cast<int64_t>(std::ceil(static_cast<double>(n + 1) * level));
  if (rank > n) return std::numeric_limits<double>::infinity();
  return sorted[std::max<int64_t>(rank, 1) - 1].item<double>();
}

}  // namespace hybrid::solvers
