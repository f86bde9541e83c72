#include "solvers/integrate/runge_kutta_step.h"

#include <ATen/ATen.h>

namespace hybrid::solvers {
namespace {

// x + h Σ w_i k_i, skipping zero weights; `add` with alpha fuses the scaling.
at::Tensor Combine(const at::Tensor& x, const std::vector<double>& w, const std::vector<at::Tensor>& k, double h) {
  at::Tensor out = x;
  for (size_t i = 0; i < w.size(); ++i) {
    if (w[i] != 0.0) out = out.add(k[i], h * w[i]);
  }
  return out;
}

}  // namespace

RkStep TakeRkStep(const ButcherTableau& tableau, const VectorField& f, double t, const at::Tensor& x, double h,
                  const at::Tensor& k1, bool want_error) {
  RkStep step;
  const int s = tableau.stages();
  step.k.reserve(s);
  step.k.push_back(k1.defined() ? k1 : f.Evaluate(t, x));
  for (int i = 1; i < s; ++i) {
    const at::Tensor xi = Combine(x, tableau.a[i], step.k, h);
    if (tableau.fsal && i == s - 1) step.x = xi;  // The last stage sits at the new solution.
    step.k.push_back(f.Evaluate(t + tableau.c[i] * h, xi));
  }
  if (!step.x.defined()) step.x = Combine(x, tableau.b, step.k, h);
  if (want_error && tableau.adaptive()) {
    step.error = Combine(at::zeros_like(x), tableau.b_error, step.k, h);
  }
  return step;
}

DenseSegment::DenseSegment(const at::Tensor& x0, const RkStep& step, double h) {
  // Hairer's dopri5.f (CONTD5) coefficients of the continuous extension.
  static const std::vector<double> d = {-12715105075.0 / 11282082432.0,  0.0,
                                        87487479700.0 / 32700410799.0,   -10690763975.0 / 1880347072.0,
                                        701980252875.0 / 199316789632.0, -1453857185.0 / 822651844.0,
                                        69997945.0 / 29380423.0};
  const at::Tensor& x1 = step.x;
  r1_ = x0;
  r2_ = x1 - x0;
  r3_ = step.k.front() * h - r2_;
  r4_ = r2_ - step.k.back() * h - r3_;
  r5_ = Combine(at::zeros_like(x0), d, step.k, h);
}

at::Tensor DenseSegment::At(double theta) const {
  const double one_minus = 1.0 - theta;
  return r1_ + theta * (r2_ + one_minus * (r3_ + theta * (r4_ + one_minus * r5_)));
}

}  // namespace hybrid::solvers
