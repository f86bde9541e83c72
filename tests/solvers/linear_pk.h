// The two-compartment PK model (solvers/physics/pkpd.h) as the linear ODE it
// is, dx/dt = A x for x = (depot, central, peripheral, eliminated): the exact
// solutions the tests check forecasts, inputs and analyses against, and the
// physics-only hybrid model that integrates it.
//
//   at::Tensor x = ExactPk(x0, rate, /*tau=*/2.0);   // rows of x0 [N, 4] after 2 h, a constant rate [4] added
#pragma once

#include <ATen/ATen.h>

#include <memory>

#include "solvers/hybrid/hybrid_model.h"

namespace hybrid::testing {

// A at pkpd.h's defaults (ka 1/h, CL 5 L/h, Q 10 L/h, V2 100 L) for a central volume V1.
inline at::Tensor PkMatrix(double v1 = 50.0) {
  const double ka = 1.0, cl = 5.0, q = 10.0, v2 = 100.0;
  return at::tensor({-ka, 0.0, 0.0, 0.0,               //
                     ka, -(cl + q) / v1, q / v2, 0.0,  //
                     0.0, q / v1, -q / v2, 0.0,        //
                     0.0, cl / v1, 0.0, 0.0},
                    at::kDouble)
      .view({4, 4});
}

// exp(τ [[A, r], [0, 0]]) applied to [x0; 1] for every row of x0 [N, 4]: the
// state after τ with a constant input rate r [4].
inline at::Tensor ExactPk(const at::Tensor& x0, const at::Tensor& rate, double tau, double v1 = 50.0) {
  at::Tensor block = at::zeros({5, 5}, at::kDouble);
  block.narrow(0, 0, 4).narrow(1, 0, 4).copy_(PkMatrix(v1));
  block.narrow(0, 0, 4).select(1, 4).copy_(rate);
  const at::Tensor augmented = at::cat({x0, at::ones({x0.size(0), 1}, at::kDouble)}, 1);
  return at::matmul(augmented, at::linalg_matrix_exp(block * tau).t()).narrow(1, 0, 4);
}

// The physics-only hybrid of the catalog's PK/PD model at its defaults.
inline std::shared_ptr<solvers::HybridModel> PkModel(int64_t members) {
  solvers::HybridModelSpec spec;
  spec.physics = "pkpd_two_compartment";
  spec.physics_options.members = members;
  spec.composition = solvers::Composition::kPhysicsOnly;
  return solvers::HybridModel::Create(spec).value();
}

}  // namespace hybrid::testing
