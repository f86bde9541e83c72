// Finite-difference gradient checks for tests.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>

namespace hybrid::testing {

// Central difference of `loss` wrt entry `i` of `flat`, Richardson-extrapolated
// from steps eps and eps/2: error O(eps⁴) plus rounding ~1e-16·loss/eps, so a
// fairly large eps keeps both far below the 1e-6 tolerance.
inline double NumericDerivative(const std::function<at::Tensor()>& loss, at::Tensor flat, int64_t i, double eps) {
  const double original = flat[i].item<double>();
  auto central = [&](double h) {
    flat[i].fill_(original + h);
    const double up = loss().item<double>();
    flat[i].fill_(original - h);
    const double down = loss().item<double>();
    flat[i].fill_(original);
    return (up - down) / (2 * h);
  };
  return (4 * central(eps / 2) - central(eps)) / 3;
}

// Worst relative error between autograd and finite differences over every
// entry of `param` (a leaf tensor that `loss` reads). Entries whose derivative
// is nearly zero are measured against 1e-3 of the largest one, since no
// relative measure means anything there.
inline double WorstRelativeError(const std::function<at::Tensor()>& loss, at::Tensor param, double eps) {
  param.mutable_grad() = at::Tensor();
  loss().backward();
  const at::Tensor grad = param.grad().clone();
  const double floor = 1e-3 * grad.abs().max().item<double>();
  double worst = 0.0;
  at::NoGradGuard no_grad;
  at::Tensor flat = param.view({-1});
  for (int64_t i = 0; i < flat.numel(); ++i) {
    const double numeric = NumericDerivative(loss, flat, i, eps);
    const double exact = grad.view({-1})[i].item<double>();
    worst = std::max(worst, std::abs(exact - numeric) / std::max(std::abs(numeric), floor));
  }
  std::printf("gradient check: worst relative error %.2e over %lld entries\n", worst,
              static_cast<long long>(flat.numel()));
  return worst;
}

}  // namespace hybrid::testing
