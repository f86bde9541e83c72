// Compositions of physics and networks: each one's vector field against its
// formula, the periodic CNN's symmetry, and the gradient of the whole training
// objective (NLL head, ‖g‖² and physics-residual penalties, priors) against
// finite differences for every composition.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <memory>
#include <utility>
#include <vector>

#include "solvers/hybrid/hybrid_model.h"
#include "solvers/training/hybrid_objective.h"
#include "tests/solvers/finite_differences.h"

namespace hybrid::solvers {
namespace {

using ::hybrid::testing::WorstRelativeError;

HybridModelSpec LorenzSpec(Composition composition) {
  HybridModelSpec spec;
  spec.physics_options.members = 2;
  spec.physics_options.initial = {{"rho", 20.0}};
  spec.physics_options.trainable = {"rho", "beta"};
  spec.physics_options.member_jitter = 0.1;
  spec.physics_options.seed = 4;
  spec.composition = composition;
  spec.hidden = {6};
  spec.output_scale = 0.5;
  return spec;
}

at::Tensor States(int64_t members, int64_t batch, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  // O(1) states keep tanh out of saturation, so that no derivative drowns in rounding.
  return at::randn({members, batch, 3}, gen, at::kDouble) * 1.5;
}

TEST(Composition, EachVectorFieldFollowsItsFormula) {
  const at::Tensor x = States(2, 4, 1);
  auto make = [](Composition c) { return HybridModel::Create(LorenzSpec(c)).value(); };
  const auto physics = make(Composition::kPhysicsOnly);
  const at::Tensor f = physics->Physics(x);
  EXPECT_FALSE(physics->has_correction());
  EXPECT_TRUE(physics->Evaluate(0, x).equal(f));

  const auto additive = make(Composition::kAdditive);
  EXPECT_TRUE(at::allclose(additive->Evaluate(0, x), f + additive->Correction(x)));

  // The networks share the seed, so g is the same function in every composition.
  const auto network = make(Composition::kNetworkOnly);
  const at::Tensor g = network->Evaluate(0, x);
  EXPECT_TRUE(network->ThetaParameters().empty());
  EXPECT_TRUE(at::allclose(g, additive->Correction(x)));

  const auto parallel = make(Composition::kParallel);
  EXPECT_NEAR(parallel->Alpha()[0].item<double>(), 0.9, 1e-12);
  EXPECT_TRUE(at::allclose(parallel->Evaluate(0, x), 0.9 * f + 0.1 * g));

  const auto serial = make(Composition::kSerial);
  const at::Tensor g_of_f = network->Evaluate(0, f);  // g applied to the physics output
  EXPECT_TRUE(at::allclose(serial->Evaluate(0, x), f + g_of_f));
  EXPECT_TRUE(at::allclose(serial->Correction(x), g_of_f));
}

TEST(Composition, CorrectionComponentsLeaveTheOtherComponentsToThePhysics) {
  const at::Tensor x = States(2, 4, 2);
  const auto full = HybridModel::Create(LorenzSpec(Composition::kAdditive)).value();
  HybridModelSpec spec = LorenzSpec(Composition::kAdditive);
  spec.correction_components = {2};  // z only, as for Lorenz-63 without −βz.
  const auto masked = HybridModel::Create(spec).value();
  const at::Tensor f = masked->Physics(x);
  const at::Tensor g = full->Correction(x);  // Same seed: the same network.
  const at::Tensor out = masked->Evaluate(0, x);
  EXPECT_TRUE(out.narrow(2, 0, 2).equal(f.narrow(2, 0, 2)));
  EXPECT_TRUE(at::allclose(out.select(2, 2), f.select(2, 2) + g.select(2, 2)));
  EXPECT_GT(g.narrow(2, 0, 2).abs().max().item<double>(), 0.0) << "the unmasked network does touch x and y";

  spec.correction_components = {3};
  EXPECT_NE(HybridModel::Create(spec).status().message().find("correction_components[0] = 3"), std::string::npos);
  spec = LorenzSpec(Composition::kNetworkOnly);
  spec.correction_components = {0};
  EXPECT_NE(HybridModel::Create(spec).status().message().find("correction_components"), std::string::npos);
}

TEST(Composition, RejectsInconsistentSpecsByField) {
  HybridModelSpec spec = LorenzSpec(Composition::kSerial);
  spec.hidden.clear();
  absl::StatusOr<std::shared_ptr<HybridModel>> model = HybridModel::Create(spec);
  ASSERT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(model.status().message().find("correction.hidden"), std::string::npos);
  spec = LorenzSpec(Composition::kAdditive);
  spec.network = NetworkKind::kConv;
  EXPECT_NE(HybridModel::Create(spec).status().message().find("network"), std::string::npos);
  spec = LorenzSpec(Composition::kParallel);
  spec.parallel_alpha = 1.0;
  EXPECT_NE(HybridModel::Create(spec).status().message().find("parallel_alpha"), std::string::npos);
}

// FitzHugh–Nagumo with 2 members and a CNN closure of `hidden` channels at full output scale.
std::shared_ptr<HybridModel> ConvClosureModel(int64_t grid, std::vector<int64_t> hidden,
                                              at::ScalarType dtype = at::kDouble) {
  HybridModelSpec spec;
  spec.physics_options.dtype = dtype;
  spec.physics = "fitzhugh_nagumo";
  spec.physics_options.members = 2;
  spec.physics_options.structure = {{"grid", grid}};
  spec.network = NetworkKind::kConv;
  spec.hidden = std::move(hidden);
  spec.output_scale = 1.0;
  return HybridModel::Create(spec).value();
}

TEST(ConvClosure, IsTranslationEquivariantOnThePeriodicGridAndPerMember) {
  const auto model = ConvClosureModel(8, {4, 4});
  at::Generator gen = at::detail::createCPUGenerator(2);
  const at::Tensor x = at::rand({2, 3, 2 * 64}, gen, at::kDouble);
  auto field = [](const at::Tensor& t) { return t.view({2, 3, 2, 8, 8}); };
  const at::Tensor g = model->Correction(x);
  // Shifting the field by (3, 5) cells, across the boundary, shifts g the same way.
  const at::Tensor shifted = at::roll(field(x), {3, 5}, {3, 4}).reshape({2, 3, 128});
  EXPECT_TRUE(
      at::allclose(model->Correction(shifted), at::roll(field(g), {3, 5}, {3, 4}).reshape({2, 3, 128}), 1e-12, 1e-12));
  // Member 1's input does not reach member 0's output; the members differ.
  at::Tensor other = x.clone();
  other[1].add_(1.0);
  EXPECT_TRUE(model->Correction(other)[0].equal(g[0]));
  EXPECT_FALSE(at::allclose(g[0], model->Correction(x.flip(0))[1]));
}

TEST(ConvClosure, GradientsMatchFiniteDifferencesAcrossThePeriodicBoundary) {
  // The circular padding's backward folds the halo back onto the cells it
  // copies; a wrong fold shows at the edge cells, which a 4×4 grid makes half of all.
  const auto model = ConvClosureModel(4, {3, 3});
  at::Generator gen = at::detail::createCPUGenerator(4);
  at::Tensor x = at::randn({2, 3, 2 * 16}, gen, at::kDouble).requires_grad_(true);
  const at::Tensor weights = at::randn({2, 3, 2 * 16}, gen, at::kDouble);
  auto loss = [&] { return (model->Correction(x) * weights).sum(); };
  EXPECT_LT(WorstRelativeError(loss, x, 1e-6), 1e-6);
  for (const auto& item : model->named_parameters(/*recurse=*/true)) {
    if (item.key().find("correction") == std::string::npos) continue;
    EXPECT_LT(WorstRelativeError(loss, item.value(), 1e-6), 1e-6) << item.key();
  }
}

TEST(ConvClosure, Float32ChannelsLastAgreesWithFloat64) {
  // float32 runs channels-last, float64 NCHW: the same
  // weights (drawn in float64, then rounded) give the same values and input
  // gradients to float32 rounding.
  const auto exact = ConvClosureModel(8, {4, 4});
  const auto single = ConvClosureModel(8, {4, 4}, at::kFloat);
  at::Generator gen = at::detail::createCPUGenerator(5);
  const at::Tensor x = at::randn({2, 3, 2 * 64}, gen, at::kDouble);
  const at::Tensor weights = at::randn({2, 3, 2 * 64}, gen, at::kDouble);
  at::Tensor x64 = x.clone().requires_grad_(true), x32 = x.to(at::kFloat).requires_grad_(true);
  const at::Tensor g64 = exact->Correction(x64), g32 = single->Correction(x32);
  (g64 * weights).sum().backward();
  (g32 * weights.to(at::kFloat)).sum().backward();
  const double scale = g64.abs().max().item<double>(), grad_scale = x64.grad().abs().max().item<double>();
  EXPECT_LT((g32.to(at::kDouble) - g64).abs().max().item<double>(), 1e-5 * scale);
  EXPECT_LT((x32.grad().to(at::kDouble) - x64.grad()).abs().max().item<double>(), 1e-5 * grad_scale);
}

// A smaller ensemble for Predict: member m of FirstMembers(k) must be member m
// of the full model in every part (θ, α, MLP and head, grouped convolutions).
TEST(FirstMembers, IsTheLeadingSliceOfTheEnsemble) {
  HybridModelSpec lorenz = LorenzSpec(Composition::kParallel);
  lorenz.physics_options.members = 4;
  lorenz.noise_hidden = {4};
  HybridModelSpec field;
  field.physics = "fitzhugh_nagumo";
  field.physics_options.members = 3;
  field.physics_options.structure = {{"grid", 4}};
  field.physics_options.trainable = {"a", "k"};
  field.physics_options.member_jitter = 0.2;
  field.network = NetworkKind::kConv;
  field.hidden = {3};
  field.output_scale = 1.0;
  for (const HybridModelSpec& spec : {lorenz, field}) {
    const auto model = HybridModel::Create(spec).value();
    const int64_t m = model->members(), d = model->state_dim();
    at::Generator gen = at::detail::createCPUGenerator(9);
    const at::Tensor x = at::randn({m, 3, d}, gen, at::kDouble);
    const at::Tensor full = model->Evaluate(0.0, x);
    for (int64_t k = 1; k <= m; ++k) {
      const auto part = model->FirstMembers(k);
      EXPECT_EQ(part->members(), k);
      EXPECT_TRUE(at::equal(part->Evaluate(0.0, x.narrow(0, 0, k)), full.narrow(0, 0, k))) << spec.physics << k;
    }
    // Different members really differ, so the slice is not trivially right.
    EXPECT_FALSE(at::allclose(full[0], model->Evaluate(0.0, x.flip(0))[m - 1]));
    if (model->has_noise_head()) {
      EXPECT_TRUE(
          at::equal(model->FirstMembers(2)->LogVariance(x.narrow(0, 0, 2)), model->LogVariance(x).narrow(0, 0, 2)));
      EXPECT_TRUE(at::equal(model->FirstMembers(3)->Alpha(), model->Alpha().narrow(0, 0, 3)));
    }
  }
}

class ObjectiveGradient : public ::testing::TestWithParam<Composition> {};

TEST_P(ObjectiveGradient, MatchesFiniteDifferencesForEveryParameter) {
  HybridModelSpec spec = LorenzSpec(GetParam());
  spec.noise_hidden = {4};
  const auto model = HybridModel::Create(spec).value();
  ObjectiveOptions options;
  options.correction_penalty = 0.3;
  options.physics_residual_weight = 1e-3;  // Its φ-independent part would drown φ in rounding.
  options.priors = {{"rho", 28.0, 2.0}};
  const HybridObjective objective = HybridObjective::Create(*model, options).value();
  const at::Tensor x0 = States(2, 3, 7);
  const at::Tensor y = States(2, 3 * 4, 8).view({2, 3, 4, 3});
  auto loss = [&] { return objective.Evaluate(*model, x0, y, 0.02, 3).total; };
  // Loss ~10 and gradients down to ~1e-3 put the finite differences' own
  // rounding near 1e-6 (measured worst: 1.5e-5); a wrong term would be O(1).
  for (const auto& item : model->named_parameters(/*recurse=*/true)) {
    if (!item.value().requires_grad()) continue;
    EXPECT_LT(WorstRelativeError(loss, item.value(), 1e-3), 1e-4) << item.key();
  }
}

INSTANTIATE_TEST_SUITE_P(AllCompositions, ObjectiveGradient,
                         ::testing::Values(Composition::kAdditive, Composition::kSerial, Composition::kParallel,
                                           Composition::kPhysicsOnly, Composition::kNetworkOnly),
                         [](const auto& info) { return CompositionName(info.param); });

TEST(Objective, AdaptiveWeightGrowsByTauTimesTheDataTermAndPriorsAreChecked) {
  const auto model = HybridModel::Create(LorenzSpec(Composition::kAdditive)).value();
  ObjectiveOptions options;
  options.adaptive_weight = true;
  options.lambda_initial = 2.0;
  options.lambda_tau = 0.5;
  HybridObjective objective = HybridObjective::Create(*model, options).value();
  const at::Tensor x0 = States(2, 3, 7);
  const at::Tensor y = States(2, 6, 8).view({2, 3, 2, 3});
  const ObjectiveTerms terms = objective.Evaluate(*model, x0, y, 0.02, 2);
  EXPECT_NEAR(terms.total.item<double>(), 2.0 * terms.data, 1e-12 * terms.data);
  objective.AfterStep(terms);
  EXPECT_NEAR(objective.lambda(), 2.0 + 0.5 * terms.data, 1e-12 * terms.data);

  options.priors = {{"kappa", 1.0, 1.0}};
  EXPECT_NE(HybridObjective::Create(*model, options).status().message().find("priors[0].name"), std::string::npos);
  options.priors = {{"rho", 1.0, 0.0}};
  EXPECT_EQ(HybridObjective::Create(*model, options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hybrid::solvers
