// Predictive summary of an ensemble: mean, std and central intervals.
//
//   EnsembleSummary s = SummarizeEnsemble(members, noise_variance, {0.5, 0.9});
//   // s.lower[1], s.upper[1]: the 90% central interval.
//
// members: [M, ...] — one forecast per member (or per sample). extra_variance:
// an aleatoric (noise) variance broadcastable to members[0], or an undefined
// tensor for none. spread_scale: a factor on the members' spread (e.g. a
// conformal scale per lead time) broadcastable to members[0], or undefined.
// The predictive distribution is taken as Gaussian with
//   variance = spread_scale² · sample variance over members (0 when M = 1) + extra_variance,
// and the central interval at level ℓ is mean ± z·std with z = √2·erfinv(ℓ).
// Levels must lie in (0, 1); callers validate them.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "absl/types/span.h"

namespace hybrid::solvers {

struct EnsembleSummary {
  at::Tensor mean;
  at::Tensor std;
  std::vector<double> levels;
  std::vector<at::Tensor> lower;
  std::vector<at::Tensor> upper;
};

EnsembleSummary SummarizeEnsemble(const at::Tensor& members, const at::Tensor& extra_variance,
                                  absl::Span<const double> levels, const at::Tensor& spread_scale = at::Tensor());

// The same summary from forecast samples [S, ...] (perturbed starts,
// stochastic forcing): with at least kMinQuantileSamples samples the central
// interval at level ℓ spans the samples' empirical (1 ∓ ℓ)/2 quantiles (linear
// interpolation), their distance from the mean scaled by spread_scale and,
// with extra_variance, widened to √(half_width² + (z·√extra)²); with fewer, it
// is SummarizeEnsemble's Gaussian interval. mean and std are SummarizeEnsemble's.
// Chaotic forecasts are skewed and heavy-tailed at long leads, where a
// Gaussian interval from the sample std is too wide for most states.
inline constexpr int64_t kMinQuantileSamples = 20;
EnsembleSummary SummarizeSamples(const at::Tensor& samples, const at::Tensor& extra_variance,
                                 absl::Span<const double> levels, const at::Tensor& spread_scale = at::Tensor());

// z such that a standard normal lies in [−z, z] with probability `level`.
double CentralZ(double level);

}  // namespace hybrid::solvers
