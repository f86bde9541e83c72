#include "solvers/uncertainty/ensemble_stats.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace hybrid::solvers {

double CentralZ(double level) {
  return std::sqrt(2.0) * at::erfinv(at::scalar_tensor(level, at::kDouble)).item<double>();
}

EnsembleSummary SummarizeEnsemble(const at::Tensor& members, const at::Tensor& extra_variance,
                                  absl::Span<const double> levels, const at::Tensor& spread_scale) {
  EnsembleSummary summary;
  summary.mean = members.mean(0);
  at::Tensor variance = members.size(0) > 1 ? members.var(0, /*unbiased=*/true) : at::zeros_like(summary.mean);
  if (spread_scale.defined()) variance = variance * spread_scale.pow(2);
  if (extra_variance.defined()) variance = variance + extra_variance;
  summary.std = variance.sqrt();
  for (double level : levels) {
    const at::Tensor half_width = CentralZ(level) * summary.std;
    summary.levels.push_back(level);
    summary.lower.push_back(summary.mean - half_width);
    summary.upper.push_back(summary.mean + half_width);
  }
  return summary;
}

EnsembleSummary SummarizeSamples(const at::Tensor& samples, const at::Tensor& extra_variance,
                                 absl::Span<const double> levels, const at::Tensor& spread_scale) {
  EnsembleSummary summary = SummarizeEnsemble(samples, extra_variance, levels, spread_scale);
  const int64_t n = samples.size(0);
  if (n < kMinQuantileSamples) return summary;
  const at::Tensor sorted = std::get<0>(samples.sort(0));
  auto quantile = [&](double p) {
    const double position = p * static_cast<double>(n - 1);
    const auto below = static_cast<int64_t>(std::floor(position));
    const int64_t above = std::min(below + 1, n - 1);
    const double fraction = position - static_cast<double>(below);
    return sorted[below] * (1.0 - fraction) + sorted[above] * fraction;
  };
  for (size_t i = 0; i < levels.size(); ++i) {
    at::Tensor below = summary.mean - quantile(0.5 - levels[i] / 2);
    at::Tensor above = quantile(0.5 + levels[i] / 2) - summary.mean;
    if (spread_scale.defined()) {
      below = below * spread_scale;
      above = above * spread_scale;
    }
    if (extra_variance.defined()) {
      const at::Tensor noise = CentralZ(levels[i]) * extra_variance.sqrt();
      below = (below.pow(2) + noise.pow(2)).sqrt();
      above = (above.pow(2) + noise.pow(2)).sqrt();
    }
    // A sample quantile can sit on the mean's wrong side for a lopsided few samples.
    summary.lower[i] = summary.mean - at::clamp_min(below, 0.0);
    summary.upper[i] = summary.mean + at::clamp_min(above, 0.0);
  }
  return summary;
}

}  // namespace hybrid::solvers
