// VectorField: the right-hand side dx/dt = f(t, x) of an ODE on a batched state.
//
//   FunctionField decay([](double, const at::Tensor& x) { return -x; });
//   absl::StatusOr<Trajectory> r = SolveOde(decay, x0, /*t0=*/0.0, {1.0, 2.0}, SolverOptions{});
//
// Contract: Evaluate returns a tensor with x's shape, dtype and device, built from
// differentiable ATen ops so that autograd can pass through it. Const evaluation
// must be safe to call from several threads at once (Predict does).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <utility>

namespace hybrid::solvers {

class VectorField {
 public:
  virtual ~VectorField() = default;
  virtual at::Tensor Evaluate(double t, const at::Tensor& x) const = 0;

  // A field whose dynamics are a solver step of its own (black-box physics,
  // black_box_physics.h) has no usable Evaluate: fixed-step integration calls
  // DiscreteStep(t, x, h) = x(t + h) instead of a Runge–Kutta tableau, and
  // adaptive or adjoint solves refuse it.
  virtual bool HasDiscreteStep() const { return false; }
  virtual at::Tensor DiscreteStep(double t, const at::Tensor& x, double h) const;

  // A field that runs classical RK4 in a fused kernel of its own
  // (solvers/fused/) when it can for this state: fixed-step integration with
  // ClassicRk4 then calls FusedRk4Path instead of evaluating stage by stage.
  // Such a field is autonomous, and both paths agree to rounding.
  virtual bool HasFusedRk4(const at::Tensor& /*x*/) const { return false; }
  // The state after every `every`-th of `steps` RK4 steps of size h from x,
  // stacked before the last dimension ([M, B, steps / every, D] for x [M, B, D]).
  virtual at::Tensor FusedRk4Path(const at::Tensor& x, double h, int64_t steps, int64_t every) const;
};

// Adapts a callable; for tests and analytic problems.
class FunctionField : public VectorField {
 public:
  using Function = std::function<at::Tensor(double, const at::Tensor&)>;
  explicit FunctionField(Function f) : f_(std::move(f)) {}
  at::Tensor Evaluate(double t, const at::Tensor& x) const override { return f_(t, x); }

 private:
  Function f_;
};

}  // namespace hybrid::solvers
