// The ODE solvers against mathematics: measured convergence orders on problems
// with analytic solutions, adaptive error control and dense output, exact
// output times, per-row start states, gradients, and failure statuses.
#include "solvers/integrate/ode_solver.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "tests/solvers/solver_presets.h"

namespace hybrid::solvers {
namespace {

// Harmonic oscillator x' = v, v' = −x on [B, 2]; exact: rotation of the start.
const FunctionField kOscillator([](double, const at::Tensor& s) {
  return at::stack({s.select(1, 1), -s.select(1, 0)}, 1);
});

at::Tensor OscillatorExact(const at::Tensor& x0, double t) {
  const double c = std::cos(t), s = std::sin(t);
  return at::stack({c * x0.select(1, 0) + s * x0.select(1, 1), -s * x0.select(1, 0) + c * x0.select(1, 1)}, 1);
}

// Non-autonomous x' = −2 t x; exact x(t) = x(0)·exp(−t²). Exercises stage times.
const FunctionField kGaussian([](double t, const at::Tensor& x) { return -2.0 * t * x; });

// Least-squares slope of log(error) against log(h).
double FittedOrder(const std::vector<double>& h, const std::vector<double>& error) {
  const double n = static_cast<double>(h.size());
  double mx = 0, my = 0;
  for (size_t i = 0; i < h.size(); ++i) mx += std::log(h[i]) / n, my += std::log(error[i]) / n;
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    sxy += (std::log(h[i]) - mx) * (std::log(error[i]) - my);
    sxx += (std::log(h[i]) - mx) * (std::log(h[i]) - mx);
  }
  return sxy / sxx;
}

struct OrderCase {
  const ButcherTableau* tableau;
  std::vector<int> steps;  // Chosen so errors stay well above rounding.
};

class ConvergenceOrder : public ::testing::TestWithParam<OrderCase> {};

TEST_P(ConvergenceOrder, MatchesTheMethodOnTheOscillator) {
  const ButcherTableau& tableau = *GetParam().tableau;
  const at::Tensor x0 = at::tensor({1.0, 0.0, 0.3, -0.7}, at::kDouble).view({2, 2});
  const double t_end = 2.0;
  std::vector<double> hs, errors;
  for (int n : GetParam().steps) {
    const at::Tensor x = IntegrateFixed(tableau, kOscillator, x0, 0.0, t_end / n, n);
    hs.push_back(t_end / n);
    errors.push_back((x - OscillatorExact(x0, t_end)).abs().max().item<double>());
  }
  const double order = FittedOrder(hs, errors);
  std::printf("fitted order, oscillator, %s: %.3f\n", tableau.name.c_str(), order);
  EXPECT_NEAR(order, tableau.order, 0.3) << tableau.name;
}

TEST_P(ConvergenceOrder, MatchesTheMethodOnANonAutonomousProblem) {
  const ButcherTableau& tableau = *GetParam().tableau;
  const at::Tensor x0 = at::ones({3, 1}, at::kDouble);
  const double t_end = 1.5;
  std::vector<double> hs, errors;
  for (int n : GetParam().steps) {
    const at::Tensor x = IntegrateFixed(tableau, kGaussian, x0, 0.0, t_end / n, n);
    hs.push_back(t_end / n);
    errors.push_back((x - std::exp(-t_end * t_end)).abs().max().item<double>());
  }
  const double order = FittedOrder(hs, errors);
  std::printf("fitted order, x' = -2tx, %s: %.3f\n", tableau.name.c_str(), order);
  EXPECT_NEAR(order, tableau.order, 0.3) << tableau.name;
}

INSTANTIATE_TEST_SUITE_P(AllMethods, ConvergenceOrder,
                         ::testing::Values(OrderCase{&ExplicitEuler(), {200, 400, 800, 1600, 3200}},
                                           OrderCase{&Heun(), {50, 100, 200, 400, 800}},
                                           OrderCase{&ClassicRk4(), {10, 20, 40, 80, 160}},
                                           OrderCase{&DormandPrince54(), {8, 16, 32, 64}}),
                         [](const auto& info) { return info.param.tableau->name; });

TEST(FixedStep, HitsEveryOutputTimeExactly) {
  const at::Tensor x0 = at::tensor({1.0, 0.0}, at::kDouble).view({1, 2});
  const std::vector<double> times = {0.013, 0.5, 0.77, 2.0};  // Gaps that are not multiples of the step.
  SolverOptions o;
  o.step = 0.01;
  absl::StatusOr<Trajectory> out = SolveOde(kOscillator, x0, 0.0, times, o);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->states.sizes(), (std::vector<int64_t>{4, 1, 2}));
  for (size_t i = 0; i < times.size(); ++i) {
    EXPECT_NEAR(out->states[i][0][0].item<double>(), std::cos(times[i]), 1e-9) << "t = " << times[i];
    EXPECT_NEAR(out->states[i][0][1].item<double>(), -std::sin(times[i]), 1e-9) << "t = " << times[i];
  }
  EXPECT_EQ(FixedStepCount(0.0, times, 0.01), 2 + 49 + 27 + 123);
  EXPECT_EQ(out->stats.accepted, 2 + 49 + 27 + 123);
}

TEST(FixedStep, WorksInFloat32AndOnHigherRankStates) {
  const at::Tensor x0 = at::ones({2, 3, 4}, at::kFloat);
  const FunctionField decay([](double, const at::Tensor& x) { return -x; });
  for (const ButcherTableau* tableau : {&ClassicRk4(), &DormandPrince54()}) {
    const at::Tensor x = IntegrateFixed(*tableau, decay, x0, 0.0, 0.01, 100);
    EXPECT_EQ(x.scalar_type(), at::kFloat);
    EXPECT_EQ(x.sizes(), x0.sizes());
    EXPECT_NEAR(x[1][2][3].item<float>(), std::exp(-1.0), 1e-5) << tableau->name;
  }
}

TEST(Adaptive, ErrorFollowsTheToleranceAndStepsGrowAsItLoosens) {
  const at::Tensor x0 = at::tensor({1.0, 0.0}, at::kDouble).view({1, 2});
  int64_t previous_steps = 0;
  for (double tol : {1e-4, 1e-6, 1e-8, 1e-10}) {
    absl::StatusOr<Trajectory> out = SolveOde(kOscillator, x0, 0.0, {10.0}, ::hybrid::testing::AdaptiveSolver("dopri5", tol, tol));
    ASSERT_TRUE(out.ok()) << out.status();
    const double error = (out->states[0] - OscillatorExact(x0, 10.0)).abs().max().item<double>();
    EXPECT_LT(error, 100 * tol) << "tol " << tol;  // Global error over ~1.6 periods.
    EXPECT_GT(error, 1e-3 * tol) << "tol " << tol << ": suspiciously exact (steps too small?)";
    EXPECT_GT(out->stats.accepted, previous_steps);
    previous_steps = out->stats.accepted;
  }
}

TEST(Adaptive, DenseOutputIsAccurateBetweenSteps) {
  const at::Tensor x0 = at::tensor({1.0, 0.0}, at::kDouble).view({1, 2});
  std::vector<double> times;
  for (int i = 1; i <= 400; ++i) times.push_back(0.025 * i);  // Many outputs per step.
  absl::StatusOr<Trajectory> out =
      SolveOde(kOscillator, x0, 0.0, times, ::hybrid::testing::AdaptiveSolver("dopri5", 1e-9, 1e-9));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_LT(out->stats.accepted, 200) << "dense output should not force steps onto the output grid";
  double worst = 0.0;
  for (size_t i = 0; i < times.size(); ++i) {
    worst = std::max(worst, (out->states[i] - OscillatorExact(x0, times[i])).abs().max().item<double>());
  }
  EXPECT_LT(worst, 1e-7);
}

TEST(Adaptive, HeunAdaptsToo) {
  const at::Tensor x0 = at::ones({2, 1}, at::kDouble);
  absl::StatusOr<Trajectory> out =
      SolveOde(kGaussian, x0, 0.0, {0.5, 1.5}, ::hybrid::testing::AdaptiveSolver("heun", 1e-6, 1e-6));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_NEAR(out->states[1][0][0].item<double>(), std::exp(-2.25), 1e-4);
  EXPECT_NEAR(out->states[0][1][0].item<double>(), std::exp(-0.25), 1e-4);
}

TEST(Adaptive, EachBatchRowKeepsItsOwnStartAndAccuracy) {
  // Rows on very different scales: the error control must hold for each one.
  const at::Tensor x0 = at::tensor({1.0, 0.0, 1e-3, 0.0, 0.0, 50.0}, at::kDouble).view({3, 2});
  SolverOptions o = ::hybrid::testing::AdaptiveSolver("dopri5", 1e-9, 1e-9);
  o.atol = 1e-14;  // Relative control for every row.
  absl::StatusOr<Trajectory> out = SolveOde(kOscillator, x0, 0.0, {3.0}, o);
  ASSERT_TRUE(out.ok()) << out.status();
  const at::Tensor exact = OscillatorExact(x0, 3.0);
  for (int64_t row = 0; row < 3; ++row) {
    const double scale = x0[row].abs().max().item<double>();
    EXPECT_LT((out->states[0][row] - exact[row]).abs().max().item<double>(), 1e-7 * scale) << "row " << row;
  }
}

TEST(Adaptive, GradientsFlowThroughTheSteps) {
  // x' = −k x: x(T) = x0·exp(−kT), so ∂x(T)/∂k = −T·x(T) and ∂x(T)/∂x0 = exp(−kT).
  const at::Tensor k = at::full({1}, 0.7, at::kDouble).set_requires_grad(true);
  const at::Tensor x0 = at::full({1, 1}, 2.0, at::kDouble).set_requires_grad(true);
  const FunctionField decay([&](double, const at::Tensor& x) { return -k * x; });
  absl::StatusOr<Trajectory> out =
      SolveOde(decay, x0, 0.0, {1.3}, ::hybrid::testing::AdaptiveSolver("dopri5", 1e-10, 1e-10));
  ASSERT_TRUE(out.ok()) << out.status();
  out->states.sum().backward();
  const double exact = 2.0 * std::exp(-0.7 * 1.3);
  EXPECT_NEAR(k.grad().item<double>(), -1.3 * exact, 1e-8);
  EXPECT_NEAR(x0.grad().item<double>(), std::exp(-0.7 * 1.3), 1e-8);
}

TEST(Failures, BadOptionsAndGridsNameTheField) {
  const at::Tensor x0 = at::zeros({1, 2}, at::kDouble);
  SolverOptions o;
  o.step = 0.0;
  EXPECT_NE(SolveOde(kOscillator, x0, 0.0, {1.0}, o).status().message().find("step"), absl::string_view::npos);
  o = SolverOptions{};
  o.method = "rk45";
  EXPECT_NE(SolveOde(kOscillator, x0, 0.0, {1.0}, o).status().message().find("method"), absl::string_view::npos);
  o = ::hybrid::testing::AdaptiveSolver("rk4", 1e-6, 1e-6);
  EXPECT_NE(SolveOde(kOscillator, x0, 0.0, {1.0}, o).status().message().find("no error estimate"),
            absl::string_view::npos);
  o = ::hybrid::testing::AdaptiveSolver("dopri5", 0.0, 0.0);
  EXPECT_NE(SolveOde(kOscillator, x0, 0.0, {1.0}, o).status().message().find("rtol"), absl::string_view::npos);
  absl::Status s = SolveOde(kOscillator, x0, 0.0, {1.0, 0.5}, SolverOptions{}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("times[1]"), absl::string_view::npos);
}

// x' = x², x(0) = 1 blows up at t = 1.
const FunctionField kBlowUp([](double, const at::Tensor& x) { return x * x; });

TEST(Failures, FixedStepBlowUpIsFailedPreconditionWithTheTime) {
  SolverOptions o;
  o.step = 0.1;
  absl::Status s = SolveOde(kBlowUp, at::ones({1, 1}, at::kDouble), 0.0, {0.5, 2.0, 3.0}, o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("t = 2"), absl::string_view::npos) << s;
}

TEST(Failures, AdaptiveBlowUpIsAStepSizeUnderflowNearTheSingularity) {
  absl::Status s = SolveOde(kBlowUp, at::ones({1, 1}, at::kDouble), 0.0, {2.0},
                            ::hybrid::testing::AdaptiveSolver("dopri5", 1e-8, 1e-8))
                       .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  const std::string message(s.message());
  const std::string prefix = "step size underflow at t = ";
  ASSERT_EQ(message.rfind(prefix, 0), 0u) << s;
  EXPECT_NEAR(std::stod(message.substr(prefix.size())), 1.0, 1e-6) << s;  // The exact singularity is t = 1.
}

TEST(Failures, MaxStepsIsFailedPrecondition) {
  SolverOptions o = ::hybrid::testing::AdaptiveSolver("dopri5", 1e-12, 1e-12);
  o.max_steps = 20;
  absl::Status s = SolveOde(kOscillator, at::tensor({1.0, 0.0}, at::kDouble).view({1, 2}), 0.0, {50.0}, o).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("max_steps (20) exceeded at t = "), absl::string_view::npos) << s;
  SolverOptions fixed;
  fixed.max_steps = 10;
  s = SolveOde(kOscillator, at::zeros({1, 2}, at::kDouble), 0.0, {1.0}, fixed).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("max_steps (10)"), absl::string_view::npos) << s;
}

}  // namespace
}  // namespace hybrid::solvers
