// Offline joint training: parameter recovery, early stopping with the best
// parameters restored, freezing, determinism of seeds, progress reporting and
// option validation.
#include "solvers/training/hybrid_trainer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>

#include "solvers/hybrid/trajectory_rollout.h"

namespace hybrid::solvers {
namespace {

// Lorenz-63 at ρ = 28 from random states on the attractor's scale, observed
// every dt = 0.02 (RK4 with 10 substeps).
TrajectoryData LorenzData(int64_t sequences, int64_t times, uint64_t seed) {
  HybridModelSpec spec;
  spec.composition = Composition::kPhysicsOnly;
  const auto truth = HybridModel::Create(spec).value();
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const at::Tensor x0 = at::randn({sequences, 3}, gen, at::kDouble) * 6.0 + at::tensor({0.0, 0.0, 25.0}, at::kDouble);
  at::NoGradGuard no_grad;
  const at::Tensor rest = RolloutTrajectory(*truth, x0, 0.02, times - 1, 10)[0];
  return {at::cat({x0.unsqueeze(1), rest}, 1), 0.02};
}

HybridModelSpec PhysicsRhoFrom(double rho, int64_t members) {
  HybridModelSpec spec;
  spec.composition = Composition::kPhysicsOnly;
  spec.physics_options.members = members;
  spec.physics_options.initial = {{"rho", rho}};
  spec.physics_options.trainable = {"rho"};
  return spec;
}

double Rho(const HybridModel& model) { return model.physics().Value(1).mean().item<double>(); }

TEST(Windows, EveryStartWithItsNextObservations) {
  const at::Tensor states = at::arange(2 * 5 * 1, at::kDouble).view({2, 5, 1});
  const WindowSet w = MakeWindows({states, 0.1}, 3).value();
  ASSERT_EQ(w.start.size(0), 4);  // 2 sequences × starts 0, 1
  EXPECT_EQ(w.start[3].item<double>(), 6.0);
  EXPECT_TRUE(w.targets[3].view(-1).equal(at::tensor({7.0, 8.0, 9.0}, at::kDouble)));
  const WindowSet whole = MakeWindows({states, 0.1}, 0).value();
  EXPECT_EQ(whole.targets.size(1), 4);
  EXPECT_NE(MakeWindows({states, 0.1}, 5).status().message().find("window_length"), std::string::npos);
}

TEST(Trainer, RecoversRhoAndReportsProgress) {
  const TrajectoryData train = LorenzData(16, 21, 1);
  const TrajectoryData validation = LorenzData(4, 21, 2);
  auto model = HybridModel::Create(PhysicsRhoFrom(20.0, 2)).value();
  TrainerOptions options;
  options.iterations = 300;
  options.batch_size = 16;
  options.window_length = 10;
  options.learning_rate_theta = 0.02;
  options.validate_every = 50;
  int calls = 0;
  std::string last;
  options.progress = [&](const TrainingProgress& p) {
    ++calls;
    last = FormatProgress(p);
  };
  const TrainingResult result = TrainHybrid(*model, train, validation, options, {}).value();
  EXPECT_NEAR(Rho(*model), 28.0, 0.28);  // Same RK4 for data and model: no model error.
  EXPECT_EQ(calls, 6);
  EXPECT_NE(last.find("it 300/300"), std::string::npos) << last;
  EXPECT_NE(last.find("rho=2"), std::string::npos) << last;
  EXPECT_LT(result.best_validation_mse, 1e-4);
}

TEST(Trainer, StopsEarlyAndRestoresTheBestParameters) {
  const TrajectoryData train = LorenzData(8, 11, 3);
  const TrajectoryData validation = LorenzData(4, 11, 4);
  auto model = HybridModel::Create(PhysicsRhoFrom(27.0, 1)).value();
  // A learning rate this large makes ρ jump around: validation soon stops improving.
  TrainerOptions options;
  options.iterations = 2000;
  options.window_length = 10;
  options.learning_rate_theta = 0.5;
  options.validate_every = 1;
  options.patience = 3;
  const TrainingResult result = TrainHybrid(*model, train, validation, options, {}).value();
  EXPECT_TRUE(result.stopped_early);
  EXPECT_LT(result.iterations_run, 2000);
  const WindowSet w = MakeWindows(validation, 10).value();
  const double restored = (ForecastWindows(*model, w, 0.02, 1).mean(0) - w.targets).pow(2).mean().item<double>();
  EXPECT_NEAR(restored, result.best_validation_mse, 1e-12 * (1 + restored));
  double worst = 0.0;
  for (const TrainingProgress& p : result.history) worst = std::max(worst, p.validation_mse);
  EXPECT_LT(result.best_validation_mse, worst);
}

TEST(Trainer, FreezingAndSeedsAreHonoured) {
  const TrajectoryData train = LorenzData(8, 11, 5);
  const TrajectoryData validation = LorenzData(2, 11, 6);
  HybridModelSpec spec = PhysicsRhoFrom(24.0, 3);
  spec.composition = Composition::kAdditive;
  spec.hidden = {8};
  TrainerOptions options;
  options.iterations = 20;
  options.batch_size = 4;
  options.bootstrap = true;
  options.seed = 11;
  auto run = [&](uint64_t seed, bool freeze_theta) {
    auto model = HybridModel::Create(spec).value();
    TrainerOptions o = options;
    o.seed = seed;
    o.freeze_theta = freeze_theta;
    EXPECT_TRUE(TrainHybrid(*model, train, validation, o, {}).ok());
    return model;
  };
  EXPECT_DOUBLE_EQ(Rho(*run(11, /*freeze_theta=*/true)), 24.0);
  const auto a = run(11, false);
  const auto b = run(11, false);
  const auto c = run(12, false);
  EXPECT_NE(Rho(*a), 24.0);
  for (const auto& item : a->named_parameters()) {
    EXPECT_TRUE(item.value().equal(b->named_parameters()[item.key()])) << item.key();
  }
  EXPECT_FALSE(a->named_parameters()["correction.w0"].equal(c->named_parameters()["correction.w0"]));
}

TEST(Forecasts, McDropoutDrawsSamplesWhoseMeanIsTheEvalNetwork) {
  HybridModelSpec spec;
  spec.physics_options.members = 2;
  spec.hidden = {32};  // One dropout layer before the linear output: E[g] is exactly the eval-mode g.
  spec.dropout = 0.3;
  spec.output_scale = 1.0;
  auto model = HybridModel::Create(spec).value();
  const WindowSet windows = MakeWindows(LorenzData(3, 6, 5), 0).value();
  const at::Tensor eval = ForecastWindows(*model, windows, 0.02, 2);
  EXPECT_TRUE(ForecastWindows(*model, windows, 0.02, 2, 1).equal(eval));
  const at::Tensor samples = ForecastWindows(*model, windows, 0.02, 2, 5);
  ASSERT_EQ(samples.sizes(), (std::vector<int64_t>{10, 3, 5, 3}));
  EXPECT_FALSE(samples[0].equal(samples[2])) << "two passes of member 0 drew the same dropout masks";
  EXPECT_FALSE(model->is_training());
  EXPECT_TRUE(ForecastWindows(*model, windows, 0.02, 2).equal(eval)) << "eval forecasts changed after MC dropout";

  // Inverted dropout is unbiased: the MC mean of g converges to the eval g at rate 1/√S.
  const at::Tensor x = windows.targets.flatten(0, 1).unsqueeze(0).expand({2, -1, -1}).contiguous();
  at::NoGradGuard no_grad;
  const at::Tensor g_eval = model->Correction(x);
  model->train(true);
  std::vector<at::Tensor> draws;
  for (int s = 0; s < 4000; ++s) draws.push_back(model->Correction(x));
  model->eval();
  const at::Tensor stacked = at::stack(draws);
  const at::Tensor standard_error = stacked.std(0) / std::sqrt(4000.0);
  const at::Tensor z = (stacked.mean(0) - g_eval).abs() / standard_error.clamp_min(1e-300);
  EXPECT_LT(z.max().item<double>(), 5.0);
  EXPECT_GT(stacked.std(0).mean().item<double>(), 1e-3 * g_eval.abs().mean().item<double>());
}

TEST(Trainer, RejectsBadOptionsByField) {
  const TrajectoryData data = LorenzData(2, 6, 7);
  auto model = HybridModel::Create(PhysicsRhoFrom(20.0, 1)).value();
  TrainerOptions options;
  options.iterations = 0;
  EXPECT_NE(TrainHybrid(*model, data, data, options, {}).status().message().find("trainer.iterations"),
            std::string::npos);
  options = TrainerOptions();
  options.window_length = 6;
  EXPECT_NE(TrainHybrid(*model, data, data, options, {}).status().message().find("window_length"), std::string::npos);
  options = TrainerOptions();
  options.window_length = 5;
  options.freeze_theta = true;
  EXPECT_NE(TrainHybrid(*model, data, data, options, {}).status().message().find("nothing to train"),
            std::string::npos);
  options.freeze_theta = false;
  ObjectiveOptions objective;
  objective.correction_penalty = -1;
  EXPECT_NE(TrainHybrid(*model, data, data, options, objective).status().message().find("correction_penalty"),
            std::string::npos);
}

}  // namespace
}  // namespace hybrid::solvers
