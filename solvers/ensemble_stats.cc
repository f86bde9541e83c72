#include "solvers/ensemble_stats.h"

#include <ATen/ATen.h>

#include <cmath>

namespace hybrid::solvers {

double CentralZ(double level) {
  return std::sqrt(2.0) * at::erfinv(at::scalar_tensor(level, at::kDouble)).item<double>();
}

EnsembleSummary SummarizeEnsemble(const at::Tensor& members, const at::Tensor& extra_variance,
                                  absl::Span<const double> levels) {
  EnsembleSummary summary;
  summary.mean = members.mean(0);
  at::Tensor variance = members.size(0) > 1 ? members.var(0, /*unbiased=*/true) : at::zeros_like(summary.mean);
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

}  // namespace hybrid::solvers
