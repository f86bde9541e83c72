// Autograd against finite differences: whether a model's gradients are exact.
// `hybridserve --check_model` reports CheckForecastGradient for a model it
// would load (a user's TorchScript physics and correction included); the
// tests check every gradient mode with CompareGradientWithDifferences.
//
//   absl::StatusOr<GradientAgreement> a = CheckForecastGradient(model, /*steps=*/10, /*step=*/0.01);
//   // a->worst_relative_error ≈ 1e-10 for exact gradients in float64.
//
// Finite differences are central, Richardson-extrapolated from steps eps and
// eps/2 (error O(eps⁴) plus rounding ~1e-16·loss/eps). An entry whose
// derivative is nearly zero is measured against 1e-3 of the largest in its
// tensor, since no relative measure means anything there. Not thread-safe
// with other users of the tensors it perturbs (it restores them).
// The header stays free of LibTorch (the server's core includes it).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"

namespace at {
class Tensor;
}  // namespace at

namespace hybrid::solvers {

class HybridModel;

struct GradientAgreement {
  double worst_relative_error = 0.0;
  int64_t entries = 0;  // Entries compared.
};

// `loss` (a scalar reading the leaf tensors `params`) differentiated by
// autograd and by finite differences with step `eps`, over every entry of a
// tensor with at most `max_entries`, else `max_entries` of them spread evenly.
GradientAgreement CompareGradientWithDifferences(const std::function<at::Tensor()>& loss,
                                                 const std::vector<at::Tensor>& params, double eps,
                                                 int64_t max_entries);

// The gradient of a forecast's loss — `steps` RK4 steps of `step` from two
// probe states around 0.5 (fixed seed), the mean square of the end states —
// with respect to θ (every trainable raw entry) and φ (up to 4 entries per
// tensor), on a float64 copy of `model`. FAILED_PRECONDITION for a black-box
// physics (autograd does not see θ; EGA calibrates it); solver failures as
// statuses naming t.
absl::StatusOr<GradientAgreement> CheckForecastGradient(const HybridModel& model, int64_t steps, double step);

}  // namespace hybrid::solvers
