// Finite-difference gradient checks for tests: solvers/hybrid/gradient_check.h
// over every entry of one tensor, printing the figure.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>

#include "solvers/hybrid/gradient_check.h"

namespace hybrid::testing {

// Worst relative error between autograd and finite differences (step eps) over
// every entry of `param` (a leaf tensor that `loss` reads).
inline double WorstRelativeError(const std::function<at::Tensor()>& loss, at::Tensor param, double eps) {
  const solvers::GradientAgreement a =
      solvers::CompareGradientWithDifferences(loss, {param}, eps, std::numeric_limits<int64_t>::max());
  std::printf("gradient check: worst relative error %.2e over %lld entries\n", a.worst_relative_error,
              static_cast<long long>(a.entries));
  return a.worst_relative_error;
}

}  // namespace hybrid::testing
