// A trained model exported as a repository entry is served as it was trained:
// the registry loads config.pbtxt + checkpoint.pt from real files and Predict
// reproduces an independent rollout of the trained model. A checkpoint that
// does not fit its config stops that model's load with the file and tensor named.
#include "server/repository/model_export.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "server/core/model_registry.h"
#include "solvers/hybrid/trajectory_rollout.h"
#include "tests/scoped_temp_dir.h"

namespace hybrid::server {
namespace {

using ::hybrid::testing::ScopedTempDir;

std::shared_ptr<solvers::HybridModel> TrainedPendulum() {
  solvers::HybridModelSpec spec;
  spec.physics = "damped_pendulum";
  spec.physics_options.members = 3;
  spec.physics_options.initial = {{"omega0", 0.4}, {"alpha", 0.0}};
  spec.physics_options.trainable = {"omega0"};
  spec.hidden = {8, 8};
  spec.input_center = {0.1, -0.2};
  spec.input_scale = {1.5, 0.8};
  spec.output_gain = 0.7;
  auto model = solvers::HybridModel::Create(spec).value();
  // Stand-in for training: move every parameter (θ included) off its initial value.
  at::Generator gen = at::detail::createCPUGenerator(3);
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> trained = model->ThetaParameters();
  for (const at::Tensor& p : model->PhiParameters()) trained.push_back(p);
  for (at::Tensor& p : trained) p.add_(0.2 * at::randn(p.sizes(), gen, p.scalar_type()));
  return model;
}

TEST(ModelExport, TheServerPredictsWhatTheTrainedModelForecasts) {
  ScopedTempDir repository;
  const auto trained = TrainedPendulum();
  // A model error of 1e-12 per √time: the served samples' forcing is far below the 1e-12 compared here.
  const absl::Status exported = ExportModelEntry(*trained, repository.path(), "pendulum", "trained offline", 1e-12);
  ASSERT_TRUE(exported.ok()) << exported;

  Metrics metrics;
  auto registry = ModelRegistry::Open({.repository = repository.path()}, &metrics);
  ASSERT_TRUE(registry.ok()) << registry.status();
  std::shared_ptr<ServedModel> served = (*registry)->Find("pendulum").value();
  EXPECT_EQ(served->config().description(), "trained offline");
  EXPECT_EQ(served->config().uncertainty().initial_model_error_std(), 1e-12);
  EXPECT_EQ(ExportModelEntry(*trained, repository.path(), "nan_noise", "", std::nan("")).code(),
            absl::StatusCode::kInvalidArgument);
  const ModelInfo info = served->Info();
  ASSERT_EQ(info.parameters[0].name, "omega0");
  EXPECT_NEAR(info.parameters[0].value, trained->physics().Value(0).mean().item<double>(), 1e-12);

  PredictQuery query;
  query.model = "pendulum";
  query.initial_state = {{2, 2}, {1.0, 0.5, -0.3, 1.2}};
  for (int k = 1; k <= 10; ++k) query.times.push_back(0.1 * k);
  query.max_step = 0.02;
  absl::StatusOr<PredictAnswer> answer = served->Predict(query);
  ASSERT_TRUE(answer.ok()) << answer.status();

  const at::Tensor x0 = at::tensor({1.0, 0.5, -0.3, 1.2}, at::kDouble).reshape({2, 2});
  // [M, B, T, D] → member mean → [T, B, D], Predict's layout.
  const at::Tensor expected = solvers::RolloutTrajectory(*trained, x0, 0.1, 10, 5).mean(0).transpose(0, 1);
  ASSERT_EQ(answer->mean.values.size(), static_cast<size_t>(expected.numel()));
  const at::Tensor got = at::tensor(answer->mean.values, at::kDouble).reshape(expected.sizes());
  EXPECT_LT((got - expected).abs().max().item<double>(), 1e-12);
  // And the fresh, untrained architecture forecasts something else.
  auto fresh = solvers::HybridModel::Create(trained->spec()).value();
  const at::Tensor untrained = solvers::RolloutTrajectory(*fresh, x0, 0.1, 10, 5).mean(0).transpose(0, 1);
  EXPECT_GT((got - untrained).abs().max().item<double>(), 1e-3);
}

TEST(ModelExport, Float32ParametersAtTheirBoundsExportToAValidConfig) {
  // exp(log 1e-3) in float32 is an ulp below the bound 1e-3; the exported
  // config must still load (the reaction–diffusion experiment's k hit this).
  solvers::HybridModelSpec spec;
  spec.physics = "damped_pendulum";
  spec.physics_options.members = 2;
  spec.physics_options.dtype = at::kFloat;
  spec.physics_options.initial = {{"omega0", 1e-3}};
  spec.hidden = {4};
  auto model = solvers::HybridModel::Create(spec).value();
  ScopedTempDir repository;
  ASSERT_TRUE(ExportModelEntry(*model, repository.path(), "f32", "").ok());
  Metrics metrics;
  auto registry = ModelRegistry::Open({.repository = repository.path()}, &metrics);
  ASSERT_TRUE(registry.ok()) << registry.status();
  EXPECT_EQ((*registry)->Find("f32").value()->config().dtype(), "float32");
}

TEST(ModelExport, AServedHeteroscedasticHeadSetsTheIntervals) {
  // One member whose head says σ = 2 everywhere (zero last-layer weights, bias
  // log 4): the predictive distribution is N(forecast, 4), so every 90%
  // interval is the forecast ± 1.6448536·2 whatever the state.
  solvers::HybridModelSpec spec;
  spec.physics = "damped_pendulum";
  spec.physics_options.members = 1;
  spec.physics_options.trainable = {"omega0"};
  spec.hidden = {8};
  spec.noise_hidden = {4};
  auto model = solvers::HybridModel::Create(spec).value();
  {
    at::NoGradGuard no_grad;
    for (auto& item : model->named_parameters()) {
      if (item.key() == "noise_head.w1") item.value().zero_();
      if (item.key() == "noise_head.b1") item.value().fill_(std::log(4.0));
    }
  }
  ScopedTempDir repository;
  // Model error of 1e-12: the head's σ is the only spread.
  ASSERT_TRUE(ExportModelEntry(*model, repository.path(), "noisy", "", 1e-12).ok());
  Metrics metrics;
  auto registry = ModelRegistry::Open({.repository = repository.path()}, &metrics);
  ASSERT_TRUE(registry.ok()) << registry.status();
  PredictQuery query;
  query.model = "noisy";
  query.initial_state = {{2}, {1.0, 0.5}};
  query.times = {0.5, 1.0, 2.0};
  query.levels = {0.9};
  absl::StatusOr<PredictAnswer> answer = (*registry)->Find("noisy").value()->Predict(query);
  ASSERT_TRUE(answer.ok()) << answer.status();
  const IntervalArrays& interval = answer->intervals.at(0);
  for (size_t i = 0; i < answer->mean.values.size(); ++i) {
    EXPECT_NEAR(interval.upper.values[i] - answer->mean.values[i], 1.6448536269514722 * 2.0, 1e-8);
    EXPECT_NEAR(answer->mean.values[i] - interval.lower.values[i], 1.6448536269514722 * 2.0, 1e-8);
    EXPECT_NEAR(answer->std.values[i], 2.0, 1e-12);
  }
}

TEST(ModelExport, ACheckpointThatDoesNotFitItsConfigIsRefusedByFileAndTensor) {
  ScopedTempDir repository;
  ASSERT_TRUE(ExportModelEntry(*TrainedPendulum(), repository.path(), "pendulum", "").ok());
  const std::string config_path = repository.path() + "/pendulum/config.pbtxt";
  std::stringstream text;
  text << std::ifstream(config_path).rdbuf();
  std::string edited = text.str();
  const size_t at = edited.find("hidden: 8");
  ASSERT_NE(at, std::string::npos) << edited;
  edited.replace(at, 9, "hidden: 6");  // Someone widened the network by hand.
  std::ofstream(config_path) << edited;

  Metrics metrics;
  auto registry = ModelRegistry::Open({.repository = repository.path()}, &metrics);
  ASSERT_TRUE(registry.ok()) << registry.status();  // A bad model does not stop the registry…
  EXPECT_EQ((*registry)->Find("pendulum").status().code(), absl::StatusCode::kUnavailable);
  const absl::Status s = (*registry)->Load("pendulum");  // …and says why on every attempt.
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("config.pbtxt"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("checkpoint"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("tensor 'correction."), absl::string_view::npos) << s;

  EXPECT_EQ(ExportModelEntry(*TrainedPendulum(), repository.path(), "../escape", "").code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hybrid::server
