// Lorenz-63 and Lorenz-96 as black-box solver steps: classical RK4 in plain
// C++ doubles, no LibTorch, with their exact tangent-linear models (the
// derivative of the RK4 map itself, not of the flow). They stand in for a
// user's legacy solver and are used through the same BlackBoxStep interface.
//
//   Lorenz-63  dx = σ(y − x), dy = x(ρ − z) − y, dz = xy − βz   θ = (sigma, rho, beta)
//              beta_term = false drops −βz (the EGA paper's incomplete core; β is then unused).
//   Lorenz-96  dx_i = (x_{i+1} − x_{i−2}) x_{i−1} − x_i + F, periodic, n ≥ 4   θ = (F)
//
// Parameter names, units and bounds equal those of the LibTorch models
// (lorenz63.h, lorenz96.h), so a config can switch between the two.
#pragma once

#include <cstdint>
#include <memory>

#include "solvers/black_box/black_box_step.h"

namespace hybrid::solvers {

std::shared_ptr<const BlackBoxStep> MakeLorenz63Step(bool beta_term);
// Precondition: n ≥ 4.
std::shared_ptr<const BlackBoxStep> MakeLorenz96Step(int64_t n);

}  // namespace hybrid::solvers
