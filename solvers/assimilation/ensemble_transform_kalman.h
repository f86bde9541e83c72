// The analysis step of the ensemble transform Kalman filter (ETKF; Bishop,
// Etherton & Majumdar 2001, in the form of Hunt, Kostelich & Szunyogh 2007,
// "Efficient data assimilation for spatiotemporal chaos", section 2.3): a
// deterministic square-root filter that moves an ensemble of states towards
// an observation in the K-dimensional space the ensemble spans.
//
//   EtkfOptions options;
//   options.inflation = 1.02;   // anomalies × 1.02 before the analysis
//   absl::StatusOr<at::Tensor> analysis = EtkfAnalysis(states, predicted, observed, noise_std, options);
//
// With x̄, X' the mean and inflated anomalies of `states` and ȳ, Y' those of
// `predicted` (the observable of each member, h(x_k)), R = diag(noise_std²):
//   P̃ = [(K − 1) I + Y' R⁻¹ Y'ᵀ]⁻¹,  w̄ = P̃ Y' R⁻¹ (y − ȳ),  W = [(K − 1) P̃]^½ (symmetric)
//   x_k ← x̄ + Σ_j (w̄_j + W_jk) X'_j
// For a linear observable this is the Kalman filter's update of the
// ensemble's mean and sample covariance, exactly; the analysis anomalies
// still sum to zero. Only the observed components enter (any subset, any
// linear or nonlinear observable), so partial and indirect sensors need no
// special case.
//
// With options.localization ρ [L, P] this is the local ETKF (LETKF; Hunt et
// al. 2007, section 2.3, with R-localisation): column i < L of `states` gets
// its own w̄_i, W_i from R_i⁻¹ = diag(ρ_i / noise_std²), so it moves only with
// the readings near it (grid_localization.h builds ρ); columns ≥ L (augmented
// parameters, shared by the whole field) get the global analysis. Columns with
// equal rows of ρ share one local analysis; one rotation serves them all, so
// neighbouring columns stay smooth. A column that sees no reading (ρ_i = 0)
// keeps its inflated background. ρ of ones is the ETKF.
//
// Shapes: states [K, D], predicted [K, P], observed [P], noise_std [P] (> 0),
// K ≥ 2, localization [L ≤ D, P] in [0, 1]; any floating dtype in, float64 out
// ([K, D]). INVALID_ARGUMENT naming the argument for a shape, a non-finite
// value, noise_std ≤ 0, inflation < 1 or a weight outside [0, 1].
// Pure function; thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"

namespace hybrid::solvers {

struct EtkfOptions {
  // Multiplicative inflation of the background anomalies (1: none). DAPPER's
  // `infl`; Sakov & Oke's Lorenz-96 benchmark uses 1.013 with 24 members.
  double inflation = 1.0;
  // Set: the transform W is multiplied by a random orthogonal matrix that
  // keeps the vector of ones (so the analysis mean and covariance are
  // unchanged), drawn from this seed — Sakov & Oke (2008), "Implications of the
  // form of the ensemble transformation in the ensemble square root filters";
  // DAPPER's rot=True. It spreads the members evenly instead of leaving a few
  // outliers.
  std::optional<uint64_t> rotation_seed;
  // Defined: local analyses, as above ([L, P]).
  at::Tensor localization;
};

absl::StatusOr<at::Tensor> EtkfAnalysis(const at::Tensor& states, const at::Tensor& predicted,
                                        const at::Tensor& observed, const at::Tensor& noise_std,
                                        const EtkfOptions& options);

}  // namespace hybrid::solvers
