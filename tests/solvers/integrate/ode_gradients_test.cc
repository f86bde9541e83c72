// Recomputed-segment and adjoint gradients against backprop through the steps (and,
// for the adjoint, against an analytic derivative), on a Lorenz-63 + MLP hybrid.
#include "solvers/integrate/ode_gradients.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "solvers/hybrid/hybrid_model.h"
#include "tests/solvers/solver_presets.h"

namespace hybrid::solvers {
namespace {

std::shared_ptr<HybridModel> Hybrid() {
  HybridModelSpec spec;
  spec.physics_options.initial = {{"rho", 26.0}};
  spec.physics_options.trainable = {"sigma", "rho", "beta"};
  spec.hidden = {8};
  spec.output_scale = 0.5;
  return HybridModel::Create(spec).value();
}

std::vector<at::Tensor> Trainable(const torch::nn::Module& m) {
  std::vector<at::Tensor> out;
  for (const at::Tensor& p : m.parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

struct Gradients {
  std::vector<at::Tensor> all;  // x0 first, then the parameters.
};

// d/d(x0, θ) of Σ_i <w_i, x(t_i)> with the given gradient method.
Gradients Differentiate(const std::shared_ptr<HybridModel>& model, const std::vector<double>& times,
                        const SolverOptions& solver, OdeGradientMethod method, int64_t segment_steps = 7) {
  const at::Tensor x0 =
      at::tensor({1.0, 1.0, 20.0, -5.0, -6.0, 24.0}, at::kDouble).view({1, 2, 3}).requires_grad_(true);
  OdeGradientOptions g;
  g.method = method;
  g.parameters = Trainable(*model);
  g.segment_steps = segment_steps;
  absl::StatusOr<Trajectory> r = SolveOdeDifferentiable(model, x0, 0.0, times, solver, g);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return {};
  at::Generator gen = at::detail::createCPUGenerator(17);
  const at::Tensor weights = at::randn(r->states.sizes(), gen, at::kDouble);
  (r->states * weights).sum().backward();
  Gradients out;
  out.all.push_back(x0.grad().clone());
  for (const at::Tensor& p : g.parameters) {
    out.all.push_back(p.grad().clone());
    p.mutable_grad() = at::Tensor();
  }
  return out;
}

// Largest |a − b| relative to the largest |b|, per tensor.
double WorstRelativeDifference(const Gradients& a, const Gradients& b) {
  double worst = 0.0;
  EXPECT_EQ(a.all.size(), b.all.size());
  for (size_t i = 0; i < std::min(a.all.size(), b.all.size()); ++i) {
    const double scale = b.all[i].abs().max().item<double>();
    worst = std::max(worst, (a.all[i] - b.all[i]).abs().max().item<double>() / std::max(scale, 1e-300));
  }
  return worst;
}

SolverOptions Fixed(double step) {
  SolverOptions o;
  o.step = step;
  return o;
}

TEST(RecomputedSegments, ReproducesBackpropWithFixedSteps) {
  auto model = Hybrid();
  const std::vector<double> times = {0.25, 0.5, 0.75, 1.0};
  const Gradients backprop = Differentiate(model, times, Fixed(0.01), OdeGradientMethod::kBackprop);
  for (int64_t k : {1, 7, 100, 1000}) {  // Segments of one step, uneven, exactly one output span, everything.
    const double d =
        WorstRelativeDifference(Differentiate(model, times, Fixed(0.01), OdeGradientMethod::kRecomputeSegments, k), backprop);
    EXPECT_LT(d, 1e-10) << "segment_steps " << k;
  }
}

TEST(RecomputedSegments, ReproducesBackpropWithAdaptiveStepsAndDenseOutput) {
  auto model = Hybrid();
  const std::vector<double> times = {0.3, 0.55, 1.0};  // Between steps: dense output.
  const Gradients backprop =
      Differentiate(model, times, ::hybrid::testing::AdaptiveSolver("dopri5", 1e-8, 1e-8), OdeGradientMethod::kBackprop);
  const double d =
      WorstRelativeDifference(Differentiate(model, times, ::hybrid::testing::AdaptiveSolver("dopri5", 1e-8, 1e-8),
                                            OdeGradientMethod::kRecomputeSegments, 5),
                              backprop);
  EXPECT_LT(d, 1e-10);
}

TEST(Adjoint, MatchesBackpropToTheSolverAccuracy) {
  auto model = Hybrid();
  const std::vector<double> times = {0.3, 0.55, 1.0};
  const Gradients backprop =
      Differentiate(model, times, ::hybrid::testing::AdaptiveSolver("dopri5", 1e-12, 1e-12), OdeGradientMethod::kBackprop);
  const double d = WorstRelativeDifference(
      Differentiate(model, times, ::hybrid::testing::AdaptiveSolver("dopri5", 1e-12, 1e-12), OdeGradientMethod::kAdjoint),
      backprop);
  std::printf("adjoint vs backprop (dopri5, tol 1e-12): worst relative difference %.2e\n", d);
  EXPECT_LT(d, 1e-6);
}

// x' = −k x: L = x(T) = x0·exp(−kT), so dL/dk = −T·x(T), dL/dx0 = exp(−kT).
class Decay : public torch::nn::Module, public VectorField {
 public:
  Decay() { k = register_parameter("k", at::full({1}, 0.7, at::kDouble)); }
  at::Tensor Evaluate(double, const at::Tensor& x) const override { return -k * x; }
  at::Tensor k;
};

TEST(Adjoint, MatchesTheAnalyticDerivative) {
  auto decay = std::make_shared<Decay>();
  const at::Tensor x0 = at::full({1, 1}, 2.0, at::kDouble).requires_grad_(true);
  OdeGradientOptions g;
  g.method = OdeGradientMethod::kAdjoint;
  g.parameters = {decay->k};
  absl::StatusOr<Trajectory> r =
      SolveOdeDifferentiable(decay, x0, 0.0, {1.3}, ::hybrid::testing::AdaptiveSolver("dopri5", 1e-11, 1e-11), g);
  ASSERT_TRUE(r.ok()) << r.status();
  r->states.sum().backward();
  const double xT = 2.0 * std::exp(-0.7 * 1.3);
  EXPECT_NEAR(decay->k.grad().item<double>(), -1.3 * xT, 1e-9);
  EXPECT_NEAR(x0.grad().item<double>(), std::exp(-0.7 * 1.3), 1e-9);
}

TEST(Adjoint, WithFixedStepsConvergesToBackpropAtLeastAtFourthOrder) {
  // RK4 on both passes: the continuous adjoint and the discrete gradient each
  // miss the exact gradient by O(h⁴), so halving h must divide their difference
  // by ≥ ~16 (measured: 24× and 30×, as leading terms partly cancel).
  auto model = Hybrid();
  const std::vector<double> times = {0.5, 1.0};
  std::vector<double> differences;
  for (double h : {0.02, 0.01, 0.005}) {
    differences.push_back(WorstRelativeDifference(Differentiate(model, times, Fixed(h), OdeGradientMethod::kAdjoint),
                                                  Differentiate(model, times, Fixed(h), OdeGradientMethod::kBackprop)));
    std::printf("fixed-step RK4 adjoint vs backprop, h = %g: %.3e\n", h, differences.back());
  }
  for (size_t i = 1; i < differences.size(); ++i) {
    const double order = std::log2(differences[i - 1] / differences[i]);
    EXPECT_GT(order, 3.7) << "between h = " << 0.02 / (1 << (i - 1)) << " and its half";
  }
}

TEST(OdeGradientOptions, RejectsBadSegmentLength) {
  OdeGradientOptions g;
  g.method = OdeGradientMethod::kRecomputeSegments;
  g.segment_steps = 0;
  absl::Status s =
      SolveOdeDifferentiable(Hybrid(), at::zeros({1, 1, 3}, at::kDouble), 0.0, {1.0}, Fixed(0.1), g).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("segment_steps"), absl::string_view::npos);
}

}  // namespace
}  // namespace hybrid::solvers
