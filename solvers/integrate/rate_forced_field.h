// RateForcedField: a vector field with a constant forcing added,
// dx/dt = f(t, x) + r — a piecewise-constant input such as an infusion, in
// state units per time unit, for one piece between input events.
//
//   RateForcedField infused(model, rate);   // rate [D]; both must outlive it
//   at::Tensor x = IntegrateFixed(ClassicRk4(), infused, x0, t0, h, steps);
//
// For a field with a discrete step of its own (black-box physics) the step
// becomes Ψ(x) + h·r. Thread-safety: that of the wrapped field.
#pragma once

#include <ATen/core/Tensor.h>

#include "solvers/integrate/vector_field.h"

namespace hybrid::solvers {

class RateForcedField : public VectorField {
 public:
  // rate: [D], broadcast against the state's last dimension, its dtype.
  RateForcedField(const VectorField& field, at::Tensor rate) : field_(field), rate_(std::move(rate)) {}

  at::Tensor Evaluate(double t, const at::Tensor& x) const override { return field_.Evaluate(t, x) + rate_; }
  bool HasDiscreteStep() const override { return field_.HasDiscreteStep(); }
  at::Tensor DiscreteStep(double t, const at::Tensor& x, double h) const override {
    return field_.DiscreteStep(t, x, h) + h * rate_;
  }

 private:
  const VectorField& field_;
  const at::Tensor rate_;
};

}  // namespace hybrid::solvers
