// Predictive summary of an ensemble: mean, std and central intervals.
//
//   EnsembleSummary s = SummarizeEnsemble(members, residual_variance, {0.5, 0.9});
//   // s.lower[1], s.upper[1]: the 90% central interval.
//
// members: [M, ...] — one forecast per member. extra_variance: an aleatoric
// (noise) variance broadcastable to members[0], or an undefined tensor for none.
// The predictive distribution is taken as Gaussian with
//   variance = sample variance over members (0 when M = 1) + extra_variance,
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
                                  absl::Span<const double> levels);

// z such that a standard normal lies in [−z, z] with probability `level`.
double CentralZ(double level);

}  // namespace hybrid::solvers
