// Euler Gradient Approximation against exact gradients (Ouala et al. 2023).
//
// The hybrid x ← Ψ(x) + h·g(x; φ) on Lorenz-63 without −βz: the EGA methods
// run the plain-C++ black-box step, the reference differentiates the same
// RK4 written in LibTorch with autograd. Checked here:
//   - forecasts are exact whatever the gradient method;
//   - ega-static's gradient error vanishes as O(h²) for a fixed number of steps
//     n (the paper's statement, fitted slope in [1.7, 2.3]); its error relative
//     to the exact gradient — which is itself O(h) — is then O(h);
//   - ega-tlm with the step's tangent-linear model is exact;
//   - ega-ensemble's least-squares Jacobian tends to the tangent-linear one as
//     the number of perturbed runs K grows, and its gradient to the exact one.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <vector>

#include "solvers/black_box/black_box_physics.h"
#include "solvers/calibration/gradient_rollout.h"
#include "solvers/integrate/butcher_tableau.h"
#include "solvers/integrate/ode_solver.h"
#include "solvers/physics/lorenz63.h"

namespace hybrid::solvers {
namespace {

constexpr int64_t kSteps = 10;  // n of the paper's windows.

HybridModelSpec Spec(const std::string& physics) {
  HybridModelSpec spec;
  spec.physics = physics;
  spec.physics_options.structure = {{"beta_term", 0}};
  spec.physics_options.seed = 4;
  spec.hidden = {16};
  spec.output_scale = 0.5;
  spec.input_center = {0.0, 0.0, 25.0};
  spec.input_scale = {8.0, 9.0, 8.0};
  spec.output_gain = 1.0;
  return spec;
}

// States on the attractor of the full Lorenz-63.
at::Tensor AttractorStates(int64_t count) {
  std::shared_ptr<Lorenz63> truth = Lorenz63::Create(PhysicsOptions{}).value();
  at::Generator gen = at::detail::createCPUGenerator(21);
  at::Tensor x =
      (at::tensor({1.0, 1.0, 25.0}, at::kDouble) + 5.0 * at::randn({count, 3}, gen, at::kDouble)).unsqueeze(0);
  return IntegrateFixed(ClassicRk4(), *truth, x, 0.0, 0.01, 500)[0];
}

class EgaGradientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    black_box_ = HybridModel::Create(Spec("lorenz63_step")).value();
    reference_ = HybridModel::Create(Spec("lorenz63")).value();
    at::NoGradGuard no_grad;
    const std::vector<at::Tensor> from = reference_->PhiParameters(), to = black_box_->PhiParameters();
    for (size_t i = 0; i < to.size(); ++i) to[i].copy_(from[i]);
    start_ = AttractorStates(32);
  }

  // x ← RK4_f(x) + h·g(x), all through autograd.
  at::Tensor ExactRollout(double h, int64_t n = kSteps) const {
    at::Tensor x = start_.unsqueeze(0);
    for (int64_t k = 0; k < n; ++k) {
      x = IntegrateFixed(ClassicRk4(), reference_->physics(), x, 0.0, h, 1) + h * reference_->Correction(x);
    }
    return x;
  }

  // ∂L/∂φ flattened, for L = mean (x_n − target)² with a residual that does not
  // depend on h (so that gradients differ only through the Jacobians).
  static at::Tensor Gradient(const HybridModel& model, const at::Tensor& prediction) {
    const at::Tensor target = prediction.detach() + at::tensor({0.3, -0.2, 0.1}, at::kDouble);
    std::vector<at::Tensor> phi = model.PhiParameters();
    const std::vector<at::Tensor> grads = torch::autograd::grad({(prediction - target).pow(2).mean()}, phi);
    std::vector<at::Tensor> flat;
    for (const at::Tensor& g : grads) flat.push_back(g.flatten());
    return at::cat(flat);
  }

  at::Tensor ExactGradient(double h, int64_t n = kSteps) const { return Gradient(*reference_, ExactRollout(h, n)); }

  at::Tensor ApproximateGradient(double h, GradientOptions options, int64_t n = kSteps) {
    at::Generator gen = at::detail::createCPUGenerator(5);
    return Gradient(*black_box_, RolloutForGradient(*black_box_, start_, h, n, options, gen));
  }

  std::shared_ptr<HybridModel> black_box_, reference_;
  at::Tensor start_;
};

double Norm(const at::Tensor& t) { return t.norm().item<double>(); }

// Least-squares slope of log(error) against log(h).
double Slope(const std::vector<double>& h, const std::vector<double>& error) {
  double mx = 0, my = 0;
  for (size_t i = 0; i < h.size(); ++i) mx += std::log(h[i]) / h.size(), my += std::log(error[i]) / h.size();
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    sxy += (std::log(h[i]) - mx) * (std::log(error[i]) - my);
    sxx += (std::log(h[i]) - mx) * (std::log(h[i]) - mx);
  }
  return sxy / sxx;
}

TEST_F(EgaGradientTest, ForecastsAreExactWhateverTheMethod) {
  const at::Tensor exact = ExactRollout(0.01).detach();
  for (GradientMethod m : {GradientMethod::kEgaStatic, GradientMethod::kEgaJacobian, GradientMethod::kEgaTlm,
                           GradientMethod::kEgaEnsemble}) {
    at::Generator gen = at::detail::createCPUGenerator(1);
    const at::Tensor p = RolloutForGradient(*black_box_, start_, 0.01, kSteps, {.method = m}, gen);
    EXPECT_LT((p.detach() - exact).abs().max().item<double>(), 1e-10) << GradientMethodName(m);
  }
}

// The error terms beyond h² grow like n·h·‖∂f/∂x‖ (≈ 10–30 on the attractor):
// with n = 10 and h = 0.04 the window spans 0.4 time units and h = 0.04 is not
// yet asymptotic, so the fit over the h range uses windows of n = 5 and
// n = 2 steps; n = 10 must show the same order between the two smallest steps.
TEST_F(EgaGradientTest, StaticErrorIsSecondOrderInTheStepForFixedN) {
  const std::vector<double> steps = {0.04, 0.02, 0.01, 0.005};
  for (int64_t n : {2, 5, 10}) {
    std::vector<double> absolute, relative, jacobian;
    for (double h : steps) {
      const at::Tensor exact = ExactGradient(h, n);
      absolute.push_back(Norm(ApproximateGradient(h, {.method = GradientMethod::kEgaStatic}, n) - exact));
      relative.push_back(absolute.back() / Norm(exact));
      jacobian.push_back(Norm(ApproximateGradient(h, {.method = GradientMethod::kEgaJacobian}, n) - exact));
      std::printf("n %2ld h %.3f  |static - exact| %.3e  relative %.3e  |jacobian - exact| %.3e\n",
                  static_cast<long>(n), h, absolute.back(), relative.back(), jacobian.back());
    }
    const double slope = Slope(steps, absolute), relative_slope = Slope(steps, relative);
    const double last = std::log(absolute[2] / absolute[3]) / std::log(2.0);
    std::printf("n %2ld fitted slopes: absolute %.3f, relative %.3f, jacobian %.3f; last pair %.3f\n",
                static_cast<long>(n), slope, relative_slope, Slope(steps, jacobian), last);
    if (n < 10) {
      EXPECT_GE(slope, 1.7) << n;
      EXPECT_LE(slope, 2.3) << n;
      EXPECT_GE(Slope(steps, jacobian), 1.7) << n;
      EXPECT_LE(Slope(steps, jacobian), 2.3) << n;
    } else {
      EXPECT_GE(last, 1.7);
      EXPECT_LE(last, 2.3);
    }
    EXPECT_GE(relative_slope, 0.7) << n;  // The exact gradient is O(h): relative error O(h).
    EXPECT_LE(relative_slope, 1.3) << n;
  }
}

TEST_F(EgaGradientTest, TangentLinearModelGivesTheExactGradient) {
  for (double h : {0.02, 0.005}) {
    const at::Tensor exact = ExactGradient(h);
    EXPECT_LT(Norm(ApproximateGradient(h, {.method = GradientMethod::kEgaTlm}) - exact), 1e-9 * Norm(exact)) << h;
  }
}

TEST_F(EgaGradientTest, EnsembleGradientApproachesTheExactOneWithEnoughRuns) {
  const at::Tensor exact = ExactGradient(0.01);
  const double ensemble =
      Norm(ApproximateGradient(
               0.01, {.method = GradientMethod::kEgaEnsemble, .ensemble_size = 6, .ensemble_perturbation = 1e-6}) -
           exact);
  const double stat = Norm(ApproximateGradient(0.01, {.method = GradientMethod::kEgaStatic}) - exact);
  EXPECT_LT(ensemble, 1e-4 * Norm(exact));
  EXPECT_LT(ensemble, 1e-3 * stat);
}

TEST(EnsembleJacobian, ApproachesTheTangentLinearModelAsKGrows) {
  HybridModelSpec spec;
  spec.physics = "lorenz96_step";
  const std::shared_ptr<HybridModel> model = HybridModel::Create(spec).value();
  std::vector<double> x0(40);
  for (int i = 0; i < 40; ++i) x0[i] = 8.0 * std::sin(0.37 * i) + 2.0 * std::cos(1.1 * i);
  const at::Tensor x = at::tensor(x0, at::kDouble).view({1, 1, 40}).expand({1, 4, 40}).contiguous() +
                       at::arange(4, at::kDouble).view({1, 4, 1});
  const at::Tensor tlm = model->black_box()->Jacobian(x, 0.05, 1);
  double previous = INFINITY;
  for (int64_t k : {5, 10, 20, 40, 80}) {
    at::Generator gen = at::detail::createCPUGenerator(static_cast<uint64_t>(k));
    const at::Tensor estimate = EstimateJacobian(*model, x, 0.05, k, 1e-7, gen);
    const double error = Norm(estimate - tlm) / Norm(tlm);
    std::printf("K %3ld  relative Jacobian error %.3e\n", static_cast<long>(k), error);
    EXPECT_LT(error, previous) << k;
    previous = error;
  }
  EXPECT_LT(previous, 1e-5);
}

}  // namespace
}  // namespace hybrid::solvers
