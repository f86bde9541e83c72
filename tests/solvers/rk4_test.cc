// RK4 against analytic solutions: convergence order, exact output times,
// dtype/shape genericity and failure statuses.
#include "solvers/rk4.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace hybrid::solvers {
namespace {

// Harmonic oscillator x' = v, v' = −x on [B, 2]; exact: rotation of the start.
const FunctionField kOscillator([](double, const at::Tensor& s) {
  return at::stack({s.select(1, 1), -s.select(1, 0)}, 1);
});

// Non-autonomous x' = −2 t x; exact x(t) = x(0)·exp(−t²). Exercises stage times.
const FunctionField kGaussian([](double t, const at::Tensor& x) { return -2.0 * t * x; });

double FinalError(const VectorField& f, const at::Tensor& x0, double t_end, int steps, const at::Tensor& exact) {
  const at::Tensor x = Rk4Integrate(f, x0, 0.0, t_end / steps, steps);
  return (x - exact).abs().max().item<double>();
}

// Least-squares slope of log(error) against log(h).
double FittedOrder(const std::vector<double>& h, const std::vector<double>& error) {
  double mx = 0, my = 0;
  for (size_t i = 0; i < h.size(); ++i) mx += std::log(h[i]) / h.size(), my += std::log(error[i]) / h.size();
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    sxy += (std::log(h[i]) - mx) * (std::log(error[i]) - my);
    sxx += (std::log(h[i]) - mx) * (std::log(h[i]) - mx);
  }
  return sxy / sxx;
}

TEST(Rk4, ConvergesWithOrderFourOnTheOscillator) {
  const at::Tensor x0 = at::tensor({1.0, 0.0, 0.3, -0.7}, at::kDouble).view({2, 2});
  const double t_end = 2.0;
  const double c = std::cos(t_end), s = std::sin(t_end);
  const at::Tensor exact = at::stack({c * x0.select(1, 0) + s * x0.select(1, 1), -s * x0.select(1, 0) + c * x0.select(1, 1)}, 1);
  std::vector<double> hs, errors;
  for (int steps : {10, 20, 40, 80, 160}) {
    hs.push_back(t_end / steps);
    errors.push_back(FinalError(kOscillator, x0, t_end, steps, exact));
  }
  EXPECT_NEAR(FittedOrder(hs, errors), 4.0, 0.3);
}

TEST(Rk4, ConvergesWithOrderFourOnANonAutonomousProblem) {
  const at::Tensor x0 = at::ones({3, 1}, at::kDouble);
  const double t_end = 1.5;
  const at::Tensor exact = x0 * std::exp(-t_end * t_end);
  std::vector<double> hs, errors;
  for (int steps : {8, 16, 32, 64, 128}) {
    hs.push_back(t_end / steps);
    errors.push_back(FinalError(kGaussian, x0, t_end, steps, exact));
  }
  EXPECT_NEAR(FittedOrder(hs, errors), 4.0, 0.3);
}

TEST(Rk4, SolveHitsEveryOutputTimeExactly) {
  const at::Tensor x0 = at::tensor({1.0, 0.0}, at::kDouble).view({1, 2});
  // Uneven gaps that are not multiples of max_step.
  const std::vector<double> times = {0.013, 0.5, 0.77, 2.0};
  absl::StatusOr<at::Tensor> out = Rk4Solve(kOscillator, x0, 0.0, times, 0.01);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->sizes(), (std::vector<int64_t>{4, 1, 2}));
  for (size_t i = 0; i < times.size(); ++i) {
    EXPECT_NEAR((*out)[i][0][0].item<double>(), std::cos(times[i]), 1e-9) << "t = " << times[i];
    EXPECT_NEAR((*out)[i][0][1].item<double>(), -std::sin(times[i]), 1e-9) << "t = " << times[i];
  }
  EXPECT_EQ(Rk4StepCount(0.0, times, 0.01), 2 + 49 + 27 + 123);
}

TEST(Rk4, WorksInFloat32AndOnHigherRankStates) {
  const at::Tensor x0 = at::ones({2, 3, 4}, at::kFloat);
  const FunctionField decay([](double, const at::Tensor& x) { return -x; });
  const at::Tensor x = Rk4Integrate(decay, x0, 0.0, 0.01, 100);
  EXPECT_EQ(x.scalar_type(), at::kFloat);
  EXPECT_EQ(x.sizes(), x0.sizes());
  EXPECT_NEAR(x[1][2][3].item<float>(), std::exp(-1.0), 1e-5);
}

TEST(Rk4, RejectsBadGridsNamingTheField) {
  const at::Tensor x0 = at::zeros({1, 2}, at::kDouble);
  absl::StatusOr<at::Tensor> bad_step = Rk4Solve(kOscillator, x0, 0.0, {1.0}, 0.0);
  EXPECT_EQ(bad_step.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_step.status().message().find("max_step"), absl::string_view::npos);
  absl::StatusOr<at::Tensor> decreasing = Rk4Solve(kOscillator, x0, 0.0, {1.0, 0.5}, 0.1);
  EXPECT_EQ(decreasing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(decreasing.status().message().find("times[1]"), absl::string_view::npos);
}

TEST(Rk4, BlowUpIsFailedPreconditionWithTheTime) {
  // x' = x², x(0) = 1 blows up at t = 1.
  const FunctionField blow_up([](double, const at::Tensor& x) { return x * x; });
  absl::StatusOr<at::Tensor> out = Rk4Solve(blow_up, at::ones({1, 1}, at::kDouble), 0.0, {0.5, 2.0, 3.0}, 0.1);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(out.status().message().find("t = 2"), absl::string_view::npos) << out.status();
}

}  // namespace
}  // namespace hybrid::solvers
