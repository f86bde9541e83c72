// The adjoint method's memory does not grow with the number of steps, while
// backprop through the steps grows linearly; measured as peak tensor storage
// of a forward + backward pass with a counting allocator.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "solvers/integrate/ode_gradients.h"
#include "solvers/physics/lorenz63.h"
#include "tests/solvers/counting_allocator.h"

namespace hybrid::solvers {
namespace {

using ::hybrid::testing::CountingAllocator;

// Peak tensor bytes of one solve over `steps` RK4 steps + backward, above what was live before.
size_t PeakBytes(OdeGradientMethod method, int64_t steps) {
  CountingAllocator& counter = CountingAllocator::Install();
  PhysicsOptions options;
  options.trainable = {"sigma", "rho", "beta"};
  std::shared_ptr<Lorenz63> model = Lorenz63::Create(options).value();
  const at::Tensor x0 =
      (at::ones({1, 256, 3}, at::kDouble) * at::tensor({1.0, 1.0, 20.0}, at::kDouble)).requires_grad_(true);
  const size_t before = counter.live_bytes();
  counter.ResetPeak();
  {
    SolverOptions solver;
    solver.step = 1e-4;
    solver.max_steps = steps;
    OdeGradientOptions g;
    g.method = method;
    for (const at::Tensor& p : model->parameters())
      if (p.requires_grad()) g.parameters.push_back(p);
    absl::StatusOr<Trajectory> r = SolveOdeDifferentiable(model, x0, 0.0, {1e-4 * steps}, solver, g);
    EXPECT_TRUE(r.ok()) << r.status();
    r->states.pow(2).sum().backward();
  }
  return counter.peak_bytes() - before;
}

TEST(AdjointMemory, StaysFlatFrom100To10000StepsWhileBackpropGrows) {
  const size_t adjoint_100 = PeakBytes(OdeGradientMethod::kAdjoint, 100);
  const size_t adjoint_10000 = PeakBytes(OdeGradientMethod::kAdjoint, 10000);
  const size_t backprop_100 = PeakBytes(OdeGradientMethod::kBackprop, 100);
  const size_t backprop_1000 = PeakBytes(OdeGradientMethod::kBackprop, 1000);
  std::printf(
      "peak tensor memory: adjoint 100 steps %zu B, 10000 steps %zu B (x%.2f); "
      "backprop 100 steps %zu B, 1000 steps %zu B (x%.2f)\n",
      adjoint_100, adjoint_10000, static_cast<double>(adjoint_10000) / adjoint_100, backprop_100, backprop_1000,
      static_cast<double>(backprop_1000) / backprop_100);
  EXPECT_LT(static_cast<double>(adjoint_10000), 2.0 * static_cast<double>(adjoint_100));
  EXPECT_GT(static_cast<double>(backprop_1000), 5.0 * static_cast<double>(backprop_100));  // The measure sees growth.
}

}  // namespace
}  // namespace hybrid::solvers
