// One ensemble Kalman inversion step (Iglesias, Law & Stuart 2013) with
// perturbed observations: calibrates parameters without derivatives, from the
// forecasts of an ensemble whose members carry different parameter values.
// The gain is computed after whitening by σ in the smaller of observation and
// member space (Woodbury when Q > M), so a large Q never needs a Q×Q inverse.
//
//   θ_m ← θ_m + C_θp (C_pp + Γ)⁻¹ (y + η_m − p_m),   η_m ~ N(0, Γ),  Γ = diag(σ²)
//
// with C_θp, C_pp the ensemble cross- and forecast covariances. Before the update the
// spread of θ is multiplied by `inflation` (≥ 1) against ensemble collapse.
//
// Shapes: theta [M, P] (unconstrained values, e.g. log θ), prediction [M, Q],
// observation [Q], noise_std [Q] (> 0); returns the updated theta [M, P] in
// float64. Requires M ≥ 2. Pure function; the generator draws η.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace hybrid::solvers {

at::Tensor EnsembleKalmanUpdate(const at::Tensor& theta, const at::Tensor& prediction, const at::Tensor& observation,
                                const at::Tensor& noise_std, double inflation, at::Generator& generator);

}  // namespace hybrid::solvers
