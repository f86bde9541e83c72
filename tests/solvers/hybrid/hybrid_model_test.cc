// Lorenz-63, the member-batched MLP and the additive hybrid: values against the
// equations, parameter handling, and exact gradients of the window loss
// against central finite differences.
#include "solvers/hybrid/hybrid_model.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>

#include "solvers/calibration/gradient_rollout.h"
#include "solvers/hybrid/window_loss.h"
#include "solvers/physics/lorenz63.h"
#include "tests/solvers/finite_differences.h"

namespace hybrid::solvers {
namespace {

using ::hybrid::testing::WorstRelativeError;

HybridModelSpec Spec(int64_t members, std::vector<int64_t> hidden) {
  HybridModelSpec spec;
  spec.physics_options.members = members;
  spec.physics_options.initial = {{"rho", 20.0}};
  spec.physics_options.trainable = {"sigma", "rho", "beta"};
  spec.physics_options.seed = 3;
  spec.hidden = std::move(hidden);
  spec.output_scale = 0.5;  // Large enough that φ matters in the gradient checks.
  return spec;
}

TEST(Lorenz63, MatchesTheEquations) {
  PhysicsOptions options;
  options.initial = {{"sigma", 9.0}, {"rho", 27.0}, {"beta", 2.5}};
  std::shared_ptr<Lorenz63> model = Lorenz63::Create(options).value();
  const at::Tensor x = at::tensor({1.5, -2.0, 20.0}, at::kDouble).view({1, 1, 3});
  const at::Tensor f = model->Evaluate(0.0, x);
  EXPECT_DOUBLE_EQ(f[0][0][0].item<double>(), 9.0 * (-2.0 - 1.5));
  EXPECT_DOUBLE_EQ(f[0][0][1].item<double>(), 1.5 * (27.0 - 20.0) + 2.0);
  EXPECT_DOUBLE_EQ(f[0][0][2].item<double>(), 1.5 * -2.0 - 2.5 * 20.0);
}

TEST(Lorenz63, FusedKernelAgreesWithTheAtenPathInValuesAndGradients) {
  // Contiguous CPU states take the fused kernel; a transposed view takes ATen ops.
  PhysicsOptions options;
  options.members = 2;
  options.trainable = {"sigma", "rho", "beta"};
  options.member_jitter = 0.1;
  std::shared_ptr<Lorenz63> model = Lorenz63::Create(options).value();
  const at::Tensor strided = at::randn({2, 3, 5}, at::kDouble).mul(10).transpose(1, 2).requires_grad_(true);
  const at::Tensor packed = strided.detach().contiguous().requires_grad_(true);
  ASSERT_FALSE(strided.is_contiguous());
  const at::Tensor weights = at::randn({2, 5, 3}, at::kDouble);
  auto gradients = [&](const at::Tensor& x) {
    for (auto& p : model->parameters()) p.mutable_grad() = at::Tensor();
    const at::Tensor f = model->Evaluate(0.0, x);
    (f * weights).sum().backward();
    std::vector<at::Tensor> out = {f.detach(), x.grad().clone()};
    for (const auto& p : model->parameters()) out.push_back(p.grad().clone());
    return out;
  };
  const std::vector<at::Tensor> fused = gradients(packed), aten = gradients(strided);
  for (size_t i = 0; i < fused.size(); ++i) EXPECT_TRUE(at::allclose(fused[i], aten[i], 1e-13, 1e-12)) << "item " << i;
  at::NoGradGuard no_grad;  // The inference path reads the stored logarithms directly.
  EXPECT_TRUE(at::allclose(model->Evaluate(0.0, packed), fused[0], 1e-13, 1e-12));
}

TEST(Lorenz63, WithoutTheBetaTermBothPathsDropExactlyMinusBetaZ) {
  PhysicsOptions options;
  options.structure = {{"beta_term", 0}};
  options.trainable = {"rho"};
  std::shared_ptr<Lorenz63> model = Lorenz63::Create(options).value();
  const at::Tensor x = at::tensor({1.5, -2.0, 20.0}, at::kDouble).view({1, 1, 3});
  EXPECT_DOUBLE_EQ(model->Evaluate(0.0, x)[0][0][2].item<double>(), 1.5 * -2.0);
  const at::Tensor strided = at::randn({1, 3, 4}, at::kDouble).transpose(1, 2);
  EXPECT_TRUE(at::allclose(model->Evaluate(0.0, strided), model->Evaluate(0.0, strided.contiguous())));
  options.structure = {{"beta_term", 2}};
  EXPECT_NE(Lorenz63::Create(options).status().message().find("structure.beta_term"), std::string::npos);
}

TEST(Lorenz63, StoresParametersInLogSpaceAndClampsToBounds) {
  PhysicsOptions options;
  options.trainable = {"rho"};
  std::shared_ptr<Lorenz63> model = Lorenz63::Create(options).value();
  EXPECT_NEAR(model->Value(1).item<double>(), 28.0, 1e-12);
  EXPECT_FALSE(model->IsTrainable(0));
  EXPECT_TRUE(model->IsTrainable(1));
  {
    at::NoGradGuard no_grad;
    model->named_parameters()["log_rho"].fill_(-100.0);  // A wild optimizer step.
  }
  EXPECT_GT(model->Value(1).item<double>(), 0.0);  // Positive by construction...
  model->ClampToBounds();
  EXPECT_NEAR(model->Value(1).item<double>(), Lorenz63::Specs()[1].lower, 1e-15);  // ...and inside bounds.
}

TEST(Lorenz63, RejectsUnknownOrOutOfBoundsParametersByName) {
  PhysicsOptions unknown;
  unknown.initial = {{"gamma", 1.0}};
  absl::Status s = Lorenz63::Create(unknown).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("gamma"), absl::string_view::npos);
  PhysicsOptions negative;
  negative.initial = {{"rho", -1.0}};
  s = Lorenz63::Create(negative).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("rho"), absl::string_view::npos);
}

TEST(Lorenz63, MemberJitterSpreadsOnlyTrainableParameters) {
  PhysicsOptions options;
  options.members = 8;
  options.trainable = {"rho"};
  options.member_jitter = 0.1;
  std::shared_ptr<Lorenz63> model = Lorenz63::Create(options).value();
  EXPECT_GT(model->Value(1).std().item<double>(), 0.5);
  EXPECT_EQ(model->Value(0).std().item<double>(), 0.0);
}

TEST(HybridModel, IsPhysicsPlusEachMembersOwnCorrection) {
  std::shared_ptr<HybridModel> model = HybridModel::Create(Spec(3, {8})).value();
  const at::Tensor x = at::randn({3, 5, 3}, at::kDouble);
  const at::Tensor total = model->Evaluate(0.0, x);
  const at::Tensor g = model->Correction(x);
  EXPECT_TRUE(at::allclose(total, model->physics().Evaluate(0.0, x) + g));
  // Same input to every member: members' corrections differ (independent weights).
  const at::Tensor same = at::randn({1, 5, 3}, at::kDouble).expand({3, 5, 3});
  const at::Tensor gs = model->Correction(same);
  EXPECT_GT((gs[0] - gs[1]).abs().max().item<double>(), 1e-6);
}

TEST(HybridModel, CloneIsADeepCopy) {
  std::shared_ptr<HybridModel> model = HybridModel::Create(Spec(2, {4})).value();
  std::shared_ptr<HybridModel> copy = model->Clone();
  const at::Tensor x = at::randn({2, 3, 3}, at::kDouble);
  EXPECT_TRUE(at::equal(model->Evaluate(0.0, x), copy->Evaluate(0.0, x)));
  {
    at::NoGradGuard no_grad;
    model->named_parameters()["physics.log_rho"].add_(0.1);
  }
  EXPECT_FALSE(at::equal(model->Evaluate(0.0, x), copy->Evaluate(0.0, x)));
}

// Richardson's truncation grows with eps (w0: 1.2e-7 at 2e-3, 4.9e-6 at 5e-3) and
// rounding shrinks with it (b0: 2.7e-7 at 2e-3, 6.3e-7 at 1e-3): 2e-3 balances them.
constexpr double kEps = 2e-3;

class WindowGradient : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = HybridModel::Create(Spec(2, {6})).value();
    start_ = at::tensor({1.0, 2.0, 20.0, -5.0, -6.0, 25.0, 0.5, 0.1, 10.0}, at::kDouble).view({3, 3});
    // A target 0.3 off the model's own forecast: residuals O(0.3) keep the loss
    // O(0.1), so finite differences are not swamped by rounding (~1e-16·loss/eps).
    at::NoGradGuard no_grad;
    end_ = Forecast().mean(0) + 0.3;
  }
  // What the backprop calibrator differentiates: [M, W, D] after 10 RK4 steps.
  at::Tensor Forecast() const {
    at::Generator unused = at::detail::createCPUGenerator(0);  // Only EGA-ensemble draws.
    return RolloutForGradient(*model_, start_, 0.01, 10, GradientOptions{}, unused);
  }
  at::Tensor Loss() const { return WindowMse(Forecast(), end_); }

  std::shared_ptr<HybridModel> model_;
  at::Tensor start_, end_;
};

TEST_F(WindowGradient, WrtPhysicalParametersMatchesFiniteDifferences) {
  for (const char* name : {"physics.log_sigma", "physics.log_rho", "physics.log_beta"}) {
    EXPECT_LT(WorstRelativeError([&] { return Loss(); }, model_->named_parameters()[name], kEps), 1e-6) << name;
  }
}

TEST_F(WindowGradient, WrtNetworkWeightsMatchesFiniteDifferences) {
  for (const char* name : {"correction.w0", "correction.b0", "correction.w1", "correction.b1"}) {
    EXPECT_LT(WorstRelativeError([&] { return Loss(); }, model_->named_parameters()[name], kEps), 1e-6) << name;
  }
}

TEST_F(WindowGradient, WrtInitialStateMatchesFiniteDifferences) {
  start_.set_requires_grad(true);
  EXPECT_LT(WorstRelativeError([&] { return Loss(); }, start_, kEps), 1e-6);
}

}  // namespace
}  // namespace hybrid::solvers
