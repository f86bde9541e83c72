// The predictive distribution of an ensemble as an equally weighted Gaussian
// mixture: member m predicts N(means[m], stds[m]²) (its forecast and its
// aleatoric σ from a heteroscedastic head or a residual estimate).
//
//   GaussianMixture p{means, stds};               // [M, ...] each
//   at::Tensor lo = p.Quantile(0.05), hi = p.Quantile(0.95);   // the 90% central interval
//
// Mean and Std follow the law of total variance; Quantile inverts the mixture
// CDF by bisection (elementwise, to ~1e-12 of the bracket), so intervals are
// exact mixture quantiles rather than a Gaussian approximation. stds must be > 0.
#pragma once

#include <ATen/core/Tensor.h>

namespace hybrid::solvers {

struct GaussianMixture {
  at::Tensor means;  // [M, ...]
  at::Tensor stds;   // [M, ...], broadcastable to means.

  at::Tensor Mean() const;
  at::Tensor Std() const;
  at::Tensor Cdf(const at::Tensor& y) const;  // y: the shape of means[0].
  at::Tensor Quantile(double q) const;        // q in (0, 1).
};

// Split-conformal scale (Vovk et al.; Angelopoulos & Bates 2021): given
// nonconformity scores of n held-out points (here |y − mean| / std), the
// ⌈(n + 1)·level⌉-th smallest. Intervals mean ± scale·std then cover a new
// exchangeable point with probability ≥ level. +∞ when n is too small for the
// level (⌈(n + 1)·level⌉ > n). scores: any shape, all elements count.
double SplitConformalScale(const at::Tensor& scores, double level);

}  // namespace hybrid::solvers
