// The fused ensemble RK4 kernel against the LibTorch expression path it
// replaces (the same model built with spec.fused = false): forecasts to
// 1e-12 in float64, gradients wrt x0, θ and every layer to the same, and
// against central finite differences; which models qualify.
#include "solvers/fused/fused_rk4.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "solvers/fused/step_noise.h"
#include "solvers/hybrid/hybrid_model.h"
#include "solvers/hybrid/trajectory_rollout.h"
#include "solvers/integrate/butcher_tableau.h"
#include "solvers/integrate/ode_solver.h"
#include "tests/solvers/finite_differences.h"

namespace hybrid::solvers {
namespace {

using ::hybrid::testing::WorstRelativeError;

struct Pair {
  std::shared_ptr<HybridModel> fused, reference;
};

// The same model twice (same seed, so the same weights): fused and not.
Pair Build(HybridModelSpec spec) {
  spec.fused = true;
  std::shared_ptr<HybridModel> fused = HybridModel::Create(spec).value();
  spec.fused = false;
  std::shared_ptr<HybridModel> reference = HybridModel::Create(spec).value();
  return {fused, reference};
}

HybridModelSpec Lorenz63Mlp(at::ScalarType dtype = at::kDouble) {
  HybridModelSpec spec;
  spec.physics_options.members = 3;
  spec.physics_options.initial = {{"rho", 24.0}};
  spec.physics_options.trainable = {"sigma", "rho", "beta"};
  spec.physics_options.member_jitter = 0.05;  // Each member its own θ.
  spec.physics_options.seed = 7;
  spec.physics_options.dtype = dtype;
  spec.hidden = {16, 8};
  spec.output_scale = 0.5;  // Large enough that the network matters.
  spec.input_center = {0.0, 0.0, 25.0};
  spec.input_scale = {8.0, 9.0, 8.5};
  spec.output_gain = 3.0;
  spec.correction_components = {0, 2};
  return spec;
}

at::Tensor Start(const HybridModel& model, int64_t batch) {
  at::manual_seed(11);
  return (at::randn({model.members(), batch, model.state_dim()}, at::kDouble) * 3.0 + at::tensor({1.0, 2.0, 20.0}))
      .to(model.dtype());
}

double RelativeDifference(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-300)).item<double>();
}

// The model's own parameters and x0 as leaves, for gradients.
std::vector<at::Tensor> Leaves(const HybridModel& model, const at::Tensor& x0) {
  std::vector<at::Tensor> leaves = {x0};
  for (const at::Tensor& t : model.ThetaParameters()) leaves.push_back(t);
  for (const at::Tensor& t : model.PhiParameters()) leaves.push_back(t);
  return leaves;
}

// A loss reading every output of a trajectory with fixed random weights.
at::Tensor WeightedSum(const at::Tensor& path) {
  at::manual_seed(5);
  return (path * at::randn(path.sizes(), path.options())).sum();
}

void ExpectSameGradients(const Pair& p, const at::Tensor& start,
                         const std::function<at::Tensor(const HybridModel&, const at::Tensor&)>& run,
                         double tolerance) {
  std::vector<std::vector<at::Tensor>> grads;
  for (const HybridModel* model : {p.fused.get(), p.reference.get()}) {
    at::Tensor x0 = start.clone().requires_grad_(true);
    std::vector<at::Tensor> leaves = Leaves(*model, x0);
    for (at::Tensor& t : leaves) t.mutable_grad() = at::Tensor();
    WeightedSum(run(*model, x0)).backward();
    std::vector<at::Tensor> g;
    for (const at::Tensor& t : leaves) g.push_back(t.grad().defined() ? t.grad().clone() : at::zeros_like(t));
    grads.push_back(g);
  }
  ASSERT_EQ(grads[0].size(), grads[1].size());
  for (size_t i = 0; i < grads[0].size(); ++i) {
    EXPECT_LT(RelativeDifference(grads[0][i], grads[1][i]), tolerance) << "leaf " << i;
    EXPECT_GT(grads[1][i].abs().max().item<double>(), 0.0) << "leaf " << i << " has no gradient to compare";
  }
}

at::Tensor Integrate(const HybridModel& model, const at::Tensor& x0) {
  return IntegrateFixed(ClassicRk4(), model, x0, 0.0, 0.01, 60);
}

at::Tensor Rollout(const HybridModel& model, const at::Tensor& x0) {
  return RolloutTrajectory(model, x0, /*dt=*/0.04, /*outputs=*/6, /*substeps=*/4);
}

TEST(FusedRk4, QualifyingModelsTakeTheFusedPath) {
  const Pair p = Build(Lorenz63Mlp());
  const at::Tensor x0 = Start(*p.fused, 4);
  EXPECT_TRUE(p.fused->HasFusedRk4(x0));
  EXPECT_FALSE(p.reference->HasFusedRk4(x0));
  EXPECT_FALSE(p.fused->HasFusedRk4(x0.to(at::kFloat)));   // Another dtype.
  EXPECT_FALSE(p.fused->HasFusedRk4(x0.select(0, 0)));     // Not [M, B, D].
  EXPECT_FALSE(p.fused->HasFusedRk4(x0.narrow(0, 0, 2)));  // Another member count.

  HybridModelSpec serial = Lorenz63Mlp();
  serial.composition = Composition::kSerial;
  EXPECT_FALSE(HybridModel::Create(serial).value()->HasFusedRk4(x0));
  HybridModelSpec pendulum;  // No pointwise kernel.
  pendulum.physics = "damped_pendulum";
  pendulum.hidden = {8};
  pendulum.physics_options.members = 3;
  EXPECT_FALSE(HybridModel::Create(pendulum).value()->HasFusedRk4(at::zeros({3, 1, 2}, at::kDouble)));
  HybridModelSpec dropout = Lorenz63Mlp();
  dropout.dropout = 0.2;
  std::shared_ptr<HybridModel> with_dropout = HybridModel::Create(dropout).value();
  with_dropout->train(true);  // MC dropout samples: masks the fused kernel does not draw.
  EXPECT_FALSE(with_dropout->HasFusedRk4(x0));
  with_dropout->train(false);
  EXPECT_TRUE(with_dropout->HasFusedRk4(x0));
}

TEST(FusedRk4, ForecastsEqualTheLibTorchPathInFloat64) {
  const Pair p = Build(Lorenz63Mlp());
  const at::Tensor x0 = Start(*p.fused, 5);
  at::NoGradGuard no_grad;
  const double end = RelativeDifference(Integrate(*p.fused, x0), Integrate(*p.reference, x0));
  const double path = RelativeDifference(Rollout(*p.fused, x0), Rollout(*p.reference, x0));
  const double forecast = RelativeDifference(ForecastPath(*p.fused, x0.select(0, 0), 0.01, 30),
                                             ForecastPath(*p.reference, x0.select(0, 0), 0.01, 30));
  std::printf("fused vs LibTorch, float64: end %.2e, rollout %.2e, forecast path %.2e\n", end, path, forecast);
  EXPECT_LT(end, 1e-12);
  EXPECT_LT(path, 1e-12);
  EXPECT_LT(forecast, 1e-12);
  // And the network matters here: the physics alone ends elsewhere.
  HybridModelSpec physics_only = Lorenz63Mlp();
  physics_only.composition = Composition::kPhysicsOnly;
  physics_only.hidden.clear();
  physics_only.correction_components.clear();
  physics_only.input_center.clear();
  physics_only.input_scale.clear();
  EXPECT_GT(RelativeDifference(Integrate(*HybridModel::Create(physics_only).value(), x0), Integrate(*p.reference, x0)),
            1e-4);
}

TEST(FusedRk4, InferenceModeRecordsNothing) {
  const Pair p = Build(Lorenz63Mlp());
  const at::Tensor x0 = Start(*p.fused, 2);
  c10::InferenceMode inference;
  const at::Tensor out = Integrate(*p.fused, x0);
  EXPECT_FALSE(out.requires_grad());
  EXPECT_LT(RelativeDifference(out, Integrate(*p.reference, x0)), 1e-12);
}

TEST(FusedRk4, GradientsEqualTheLibTorchPath) {
  const Pair p = Build(Lorenz63Mlp());
  const at::Tensor x0 = Start(*p.fused, 4);
  ExpectSameGradients(p, x0, Integrate, 1e-11);
  ExpectSameGradients(p, x0, Rollout, 1e-11);
}

TEST(FusedRk4, EveryCompositionItServesMatches) {
  for (Composition c : {Composition::kPhysicsOnly, Composition::kNetworkOnly, Composition::kAdditive}) {
    HybridModelSpec spec = Lorenz63Mlp();
    spec.composition = c;
    if (c == Composition::kPhysicsOnly) {
      spec.hidden.clear();
      spec.input_center.clear();
      spec.input_scale.clear();
    }
    if (c != Composition::kAdditive) spec.correction_components.clear();
    if (c == Composition::kAdditive) {  // β = 0 in the kernel, so β is not trained.
      spec.physics_options.structure = {{"beta_term", 0}};
      spec.physics_options.trainable = {"sigma", "rho"};
    }
    SCOPED_TRACE(CompositionName(c));
    const Pair p = Build(spec);
    const at::Tensor x0 = Start(*p.fused, 3);
    ASSERT_TRUE(p.fused->HasFusedRk4(x0));
    {
      at::NoGradGuard no_grad;
      EXPECT_LT(RelativeDifference(Rollout(*p.fused, x0), Rollout(*p.reference, x0)), 1e-12);
    }
    ExpectSameGradients(p, x0, Rollout, 1e-11);
  }
}

TEST(FusedRk4, RecomputedStretchesGiveTheSameGradients) {
  const Pair p = Build(Lorenz63Mlp());
  const at::Tensor start = Start(*p.fused, 3);
  std::vector<std::vector<at::Tensor>> grads;
  // Every step and its stages kept; every step (41 × 27 values); only the outputs.
  for (int64_t budget : {int64_t{1} << 25, int64_t{1200}, int64_t{16}}) {
    at::Tensor x0 = start.clone().requires_grad_(true);
    std::vector<at::Tensor> leaves = Leaves(*p.fused, x0);
    for (at::Tensor& t : leaves) t.mutable_grad() = at::Tensor();
    WeightedSum(FusedRk4Path(p.fused->fused_field(), x0, 0.01, 40, 10, budget)).backward();
    std::vector<at::Tensor> g;
    for (const at::Tensor& t : leaves) g.push_back(t.grad().clone());
    grads.push_back(g);
  }
  for (size_t i = 0; i < grads[0].size(); ++i) {
    EXPECT_LT(RelativeDifference(grads[1][i], grads[0][i]), 1e-13) << "leaf " << i;
    EXPECT_LT(RelativeDifference(grads[2][i], grads[0][i]), 1e-13) << "leaf " << i;
  }
}

TEST(FusedRk4, GradientsAgreeWithFiniteDifferences) {
  const Pair p = Build(Lorenz63Mlp());
  const at::Tensor x0 = Start(*p.fused, 2).requires_grad_(true);
  const auto loss = [&] { return WeightedSum(Rollout(*p.fused, x0)); };
  EXPECT_LT(WorstRelativeError(loss, x0, 1e-5), 1e-7);
  for (const at::Tensor& theta : p.fused->ThetaParameters()) EXPECT_LT(WorstRelativeError(loss, theta, 1e-5), 1e-7);
  // The layers' entries are rounding-limited at small steps (the LibTorch
  // path measures the same): 1e-3 keeps Richardson's O(eps⁴) error below 1e-7.
  for (const at::Tensor& phi : p.fused->PhiParameters()) EXPECT_LT(WorstRelativeError(loss, phi, 1e-3), 1e-6);
}

TEST(FusedRk4, Float32AgreesToItsPrecision) {
  const Pair p = Build(Lorenz63Mlp(at::kFloat));
  const at::Tensor x0 = Start(*p.fused, 4);
  ASSERT_TRUE(p.fused->HasFusedRk4(x0));
  at::NoGradGuard no_grad;
  EXPECT_LT(RelativeDifference(Rollout(*p.fused, x0), Rollout(*p.reference, x0)), 1e-5);
}

// The forced path (forecasts' model error) against the same steps composed
// by hand: one plain fused step, then + scale ⊙ ξ and the floor, with ξ the
// counter draws of that step — and cut into calls anywhere, the same bits.
TEST(FusedRk4, ForcedPathEqualsStepsWithTheForcingAddedByHand) {
  const Pair p = Build(Lorenz63Mlp());
  const at::Tensor x0 = Start(*p.fused, 4);
  at::NoGradGuard no_grad;
  const double h = 0.01;
  FusedForcing forcing;
  forcing.scale = at::tensor({0.3, 0.0, 0.2}, at::kDouble);
  forcing.floor = at::tensor({-std::numeric_limits<double>::infinity(), 1.0, 15.0}, at::kDouble);
  forcing.seed = 5;
  forcing.rows = {0, 1, 2, 0};  // The last row shares its draws with the first.
  const FusedField field = p.fused->fused_field();
  const PreparedFusedField prepared(field, at::kDouble);
  const at::Tensor forced = FusedForcedRk4Path(prepared, x0, h, 12, 4, forcing);  // [M, B, 3, D]
  ASSERT_EQ(forced.sizes(), (at::IntArrayRef{3, 4, 3, 3}));

  at::Tensor x = x0;
  std::vector<at::Tensor> by_hand;
  for (int64_t step = 0; step < 12; ++step) {
    at::Tensor xi = at::empty_like(x);
    for (int64_t m = 0; m < x.size(0); ++m) {
      StepNormals(StepNoise{forcing.seed, forcing.rows.data(), 4, 3}, step, m, xi.data_ptr<double>() + m * 12);
    }
    x = at::maximum(FusedRk4Path(field, x, h, 1, 1).select(2, 0) + forcing.scale * xi, forcing.floor);
    if ((step + 1) % 4 == 0) by_hand.push_back(x);
  }
  EXPECT_LT(RelativeDifference(forced, at::stack(by_hand, 2)), 1e-14);
  EXPECT_GT(RelativeDifference(forced, FusedRk4Path(field, x0, h, 12, 4)), 1e-3);  // The forcing moved it.
  EXPECT_TRUE(at::equal(forced.select(1, 0).select(2, 1), forced.select(1, 0).select(2, 1).clamp_min(1.0)));

  // Three calls of 4 steps, each starting where the last ended, first_step counting on.
  at::Tensor start = x0;
  for (int64_t call = 0; call < 3; ++call) {
    forcing.first_step = 4 * call;
    start = FusedForcedRk4Path(prepared, start, h, 4, 4, forcing).select(2, 0);
    EXPECT_TRUE(at::equal(start, forced.select(2, call))) << "call " << call;
  }
  // Rows of one index draw alike: rows 0 and 3 differ only by their starts.
  forcing.first_step = 0;
  const at::Tensor same_start = x0.select(1, 0).unsqueeze(1).expand({3, 4, 3}).contiguous();
  const at::Tensor twins = FusedForcedRk4Path(prepared, same_start, h, 12, 12, forcing);
  EXPECT_TRUE(at::equal(twins.select(1, 0), twins.select(1, 3)));
  EXPECT_FALSE(at::equal(twins.select(1, 0), twins.select(1, 1)));
}

TEST(FusedRk4, ForcedPathRefusesAutogradAndMismatchedInputs) {
  const Pair p = Build(Lorenz63Mlp());
  const at::Tensor x0 = Start(*p.fused, 2).requires_grad_(true);
  FusedForcing forcing;
  forcing.scale = at::full({3}, 0.1, at::kDouble);
  forcing.rows = {0, 1};
  const PreparedFusedField prepared(p.fused->fused_field(), at::kDouble);
  EXPECT_THROW(FusedForcedRk4Path(prepared, x0, 0.01, 4, 4, forcing), c10::Error);
  at::NoGradGuard no_grad;
  EXPECT_NO_THROW(FusedForcedRk4Path(prepared, x0, 0.01, 4, 4, forcing));
  forcing.rows = {0};
  EXPECT_THROW(FusedForcedRk4Path(prepared, x0, 0.01, 4, 4, forcing), c10::Error);  // Rows ≠ batch.
  forcing.rows = {0, 1};
  forcing.scale = at::full({3}, 0.1, at::kFloat);
  EXPECT_THROW(FusedForcedRk4Path(prepared, x0, 0.01, 4, 4, forcing), c10::Error);  // Another dtype.
}

}  // namespace
}  // namespace hybrid::solvers
