// Dormand–Prince on chaotic Lorenz-63 against an independent high-accuracy
// reference: SciPy's DOP853 at rtol = atol = 1e-13 (tests/data/lorenz63_dop853.csv,
// made by tests/reference/lorenz63_dop853.py; it agrees with SciPy's Radau at
// 1e-13 to 2e-10).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "solvers/integrate/ode_solver.h"
#include "solvers/physics/lorenz63.h"
#include "tests/solvers/solver_presets.h"

namespace hybrid::solvers {
namespace {

struct Reference {
  std::vector<double> times;
  std::vector<double> states;  // [T, 3] row-major
};

Reference ReadReference() {
  Reference r;
  std::ifstream in(std::string(HYBRID_SOURCE_DIR) + "/tests/data/lorenz63_dop853.csv");
  std::string line;
  while (std::getline(in, line)) {
    double t, x, y, z;
    if (std::sscanf(line.c_str(), "%lf,%lf,%lf,%lf", &t, &x, &y, &z) != 4) continue;  // Comment, header.
    r.times.push_back(t);
    r.states.insert(r.states.end(), {x, y, z});
  }
  return r;
}

TEST(ReferenceSolution, Dopri5MatchesDop853OnLorenz63To1e6) {
  const Reference ref = ReadReference();
  ASSERT_EQ(ref.times.size(), 100u);
  std::shared_ptr<Lorenz63> model = Lorenz63::Create(PhysicsOptions{}).value();
  // rtol 1e-10 as the issue sets it. The components cross zero, where rtol·|x|
  // vanishes, so the absolute floor matters: at atol = 1e-10 this solver misses
  // by 1.06e-6 (SciPy's own RK45, the same method, by 1.37e-6); at 1e-12, 9.1e-7.
  // On chaotic Lorenz-63 over 5 time units (~90× error growth) that is what
  // Dormand–Prince at rtol 1e-10 can deliver; the test pins it.
  const SolverOptions o = ::hybrid::testing::AdaptiveSolver("dopri5", 1e-10, 1e-12);
  const at::Tensor x0 = at::tensor({-8.0, 7.0, 27.0}, at::kDouble).view({1, 1, 3});
  absl::StatusOr<Trajectory> out = SolveOde(*model, x0, 0.0, ref.times, o);
  ASSERT_TRUE(out.ok()) << out.status();
  const at::Tensor expected = at::tensor(ref.states, at::kDouble).view({100, 1, 1, 3});
  const double worst = (out->states - expected).abs().max().item<double>();
  std::printf(
      "dopri5 rtol 1e-10 vs DOP853 reference: max |error| %.3g over t in [0, 5]; %lld steps, %lld rejected, "
      "%lld evaluations\n",
      worst, static_cast<long long>(out->stats.accepted), static_cast<long long>(out->stats.rejected),
      static_cast<long long>(out->stats.evaluations));
  EXPECT_LT(worst, 1e-6);
}

TEST(ReferenceSolution, FixedStepRk4ConvergesToTheReference) {
  // Chaos amplifies errors, but over t ≤ 1 a 4th-order method still shows its order.
  const Reference ref = ReadReference();
  std::shared_ptr<Lorenz63> model = Lorenz63::Create(PhysicsOptions{}).value();
  const at::Tensor x0 = at::tensor({-8.0, 7.0, 27.0}, at::kDouble).view({1, 1, 3});
  const at::Tensor at_one = at::tensor(std::vector<double>(ref.states.begin() + 19 * 3, ref.states.begin() + 20 * 3),
                                       at::kDouble);  // Row 20: t = 1.
  double previous = 1.0;
  for (double h : {0.01, 0.005, 0.0025}) {
    const double error = (IntegrateFixed(ClassicRk4(), *model, x0, 0.0, h, std::llround(1.0 / h)).view({3}) - at_one)
                             .abs()
                             .max()
                             .item<double>();
    EXPECT_LT(error, previous / 10) << "h = " << h;  // Halving h gains ~16×.
    previous = error;
  }
  EXPECT_LT(previous, 1e-6);
}

}  // namespace
}  // namespace hybrid::solvers
