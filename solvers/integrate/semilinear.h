// Semilinear models u_t = L u + N(u) whose stiff linear part L is diagonal in a
// spectral basis, and the exponential integrator that treats L exactly.
//
//   absl::StatusOr<Trajectory> r = SolveEtdRk4(ks, u0, 0.0, times, /*step=*/0.25);
//
// ETDRK4: Cox & Matthews (2002), "Exponential time differencing for stiff
// systems"; coefficients by the contour integrals of Kassam & Trefethen (2005),
// "Fourth-order time-stepping for stiff PDEs" (32 points on a unit circle
// around each h·L), which avoids the cancellation of the textbook formulas.
// Fourth order where h·L is moderate; on very stiff problems the observed order
// drops towards 3 (Hochbruck & Ostermann 2005; measured on KS in the tests),
// with step sizes far beyond explicit RK's stability limit either way.
// Differentiable (FFTs and complex arithmetic are ATen ops).
#pragma once

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "solvers/integrate/ode_solver.h"

namespace hybrid::solvers {

class SemilinearModel {
 public:
  virtual ~SemilinearModel() = default;
  // Physical state [M, B, N] → spectral coefficients [M, B, K] (complex), and back.
  virtual at::Tensor ToSpectral(const at::Tensor& u) const = 0;
  virtual at::Tensor FromSpectral(const at::Tensor& v) const = 0;
  // Diagonal of L in the spectral basis, broadcastable to [M, B, K].
  virtual at::Tensor LinearSymbol() const = 0;
  // N(u) in spectral form, from spectral coefficients.
  virtual at::Tensor NonlinearSpectral(const at::Tensor& v) const = 0;
};

// Fixed steps of at most `step`, each output interval split evenly (outputs hit
// exactly). States [T, u0.shape...]. INVALID_ARGUMENT for bad times or step;
// FAILED_PRECONDITION naming t when the state stops being finite.
absl::StatusOr<Trajectory> SolveEtdRk4(const SemilinearModel& model, const at::Tensor& u0, double t0,
                                       absl::Span<const double> times, double step);

}  // namespace hybrid::solvers
