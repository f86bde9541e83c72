// One explicit Runge–Kutta step of any ButcherTableau, and Hairer's dense
// output for Dormand–Prince.
//
//   RkStep step = TakeRkStep(DormandPrince54(), f, t, x, h, /*k1=*/{}, /*want_error=*/true);
//   // step.x: x(t + h); step.error: local error estimate; step.k: the stages
//
// Shapes follow x (any shape, dtype, device). Differentiable through every stage.
// `k1` may carry f(t, x) from the previous step of an FSAL method (undefined:
// computed here). Thread-safe as long as the VectorField is.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "solvers/integrate/butcher_tableau.h"
#include "solvers/integrate/vector_field.h"

namespace hybrid::solvers {

struct RkStep {
  at::Tensor x;               // Solution at t + h.
  at::Tensor error;           // h · Σ b_error_i k_i; undefined unless asked for.
  std::vector<at::Tensor> k;  // Stage derivatives; for FSAL, k.back() = f(t + h, x).
};

RkStep TakeRkStep(const ButcherTableau& tableau, const VectorField& f, double t, const at::Tensor& x, double h,
                  const at::Tensor& k1, bool want_error);

// Hairer's continuous extension of one Dormand–Prince step from (t, x0) to
// (t + h, step.x): x(t + θh) for θ ∈ [0, 1], 4th-order accurate, exact at both ends.
class DenseSegment {
 public:
  DenseSegment(const at::Tensor& x0, const RkStep& step, double h);
  at::Tensor At(double theta) const;

 private:
  at::Tensor r1_, r2_, r3_, r4_, r5_;
};

}  // namespace hybrid::solvers
