// End to end over loopback: a model whose physics is the example C plugin
// (Lorenz-96, a black box to the server) is loaded from a repository config,
// calibrated through Calibrate with EGA for its network and the ensemble
// Kalman update for its forcing F, from noisy observations of the true system
// (F = 8). One observation in the stream is poisoned (wrong units): the
// divergence guard rolls its update back, answers it in-stream, counts it in
// Prometheus, and the model keeps serving and calibrating.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "solvers/black_box/native_lorenz_steps.h"
#include "tests/e2e/test_server.h"
#include "tests/scoped_temp_dir.h"

namespace hybrid::testing {
namespace {

constexpr int kDim = 40;
constexpr double kStep = 0.05, kNoise = 0.1, kTrueForcing = 8.0;
constexpr int kObservations = 120, kPoisoned = 40;

std::string Config() {
  // The library path is only known at build time; the rest is a plain config.
  return absl::StrCat(
      "name: 'lorenz96_plugin'\n"
      "description: 'Lorenz-96 from the example C plugin, F starting wrong at 6'\n"
      "physics: PHYSICS_KIND_PLUGIN\n"
      "plugin {\n"
      "  library: '",
      HYBRID_PLUGIN_LORENZ96_C,
      "'\n"
      "  state_dim: 40\n"
      "  parameters { name: 'F' unit: '1' default_value: 8 lower: 0.001 upper: 1000 description: 'forcing' }\n"
      "}\n"
      "parameters { name: 'F' initial: 6 trainable: true }\n"
      "correction { hidden: [ 8 ] output_scale: 0.001 }\n"
      "ensemble_members: 16\n"
      "member_jitter: 0.1\n"
      "seed: 3\n"
      "calibration {\n"
      "  method: CALIBRATION_METHOD_EGA_TLM\n"
      "  theta_update: THETA_UPDATE_ENSEMBLE_KALMAN\n"
      "  kalman_observation_std: 0.1\n"
      "  learning_rate_phi: 1e-4\n"
      "}\n"
      "uncertainty { observation_noise_std: 0.1 }\n");
}

// A tensor message [1, 40] of doubles.
void SetState(v1::Tensor* t, const std::vector<double>& x) {
  t->add_shape(1);
  t->add_shape(kDim);
  t->set_dtype(v1::DTYPE_FLOAT64);
  t->mutable_f64()->Add(x.begin(), x.end());
}

double Forcing(const google::protobuf::RepeatedPtrField<v1::ParameterEstimate>& ps) {
  for (const auto& p : ps)
    if (p.name() == "F") return p.value();
  return NAN;
}

TEST(BlackBoxEndToEnd, PluginModelIsCalibratedThroughTheServerAndSurvivesAPoisonedWindow) {
  ScopedTempDir repository;
  std::filesystem::create_directories(repository.path() + "/lorenz96_plugin");
  std::ofstream(repository.path() + "/lorenz96_plugin/config.pbtxt") << Config();
  TestServer t = StartTestServer(repository.path());
  ASSERT_NE(t.server, nullptr);

  // The true system, observed every 2 steps with noise.
  std::shared_ptr<const solvers::BlackBoxStep> truth = solvers::MakeLorenz96Step(kDim);
  std::vector<double> x(kDim, kTrueForcing), next(kDim);
  x[0] += 0.01;
  ASSERT_TRUE(truth->Advance(x.data(), &kTrueForcing, kStep, 400, next.data()).ok());
  x = next;
  std::mt19937_64 random(17);
  std::normal_distribution<double> noise(0.0, kNoise);
  auto observe = [&](const std::vector<double>& state) {
    std::vector<double> y = state;
    for (double& v : y) v += noise(random);
    return y;
  };

  std::unique_ptr<client::CalibrateStream> stream = t.client->OpenCalibrate(absl::Minutes(5));
  std::vector<double> observed = observe(x);
  uint64_t version_before_poison = 0;
  for (int k = 1; k <= kObservations; ++k) {
    ASSERT_TRUE(truth->Advance(x.data(), &kTrueForcing, kStep, 2, next.data()).ok());
    x = next;
    std::vector<double> end = observe(x);
    v1::CalibrateRequest request;
    request.set_model("lorenz96_plugin");
    request.set_sequence(k);
    SetState(request.mutable_start_state(), observed);
    std::vector<double> sent = end;
    if (k == kPoisoned) {
      for (double& v : sent) v *= 1000.0;  // A sensor reporting in the wrong units.
    }
    SetState(request.mutable_end_state(), sent);
    request.set_step(kStep);
    request.set_steps(2);
    ASSERT_TRUE(stream->Write(request));
    v1::CalibrateResponse answer;
    ASSERT_TRUE(stream->Read(&answer));
    ASSERT_EQ(answer.sequence(), static_cast<uint64_t>(k));
    if (k == kPoisoned) {
      EXPECT_EQ(answer.status().code(), static_cast<int>(absl::StatusCode::kFailedPrecondition));
      EXPECT_NE(answer.status().message().find("divergence guard"), std::string::npos) << answer.status().message();
      EXPECT_EQ(answer.model_version(), version_before_poison);  // The last good version keeps serving.
    } else {
      ASSERT_EQ(answer.status().code(), 0) << "observation " << k << ": " << answer.status().message();
      EXPECT_GT(answer.gradient_norm(), 0.0) << k;  // The network's EGA gradient.
      version_before_poison = answer.model_version();
    }
    observed = end;
  }
  ASSERT_TRUE(stream->WritesDone());
  ASSERT_TRUE(stream->Finish().ok());

  absl::StatusOr<v1::GetModelResponse> model = t.client->GetModel("lorenz96_plugin");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->version(), static_cast<uint64_t>(kObservations - 1));
  const double forcing = Forcing(model->parameters());
  std::printf("F after %d observations: %.4f (truth %.1f, start 6)\n", kObservations, forcing, kTrueForcing);
  EXPECT_LT(std::abs(forcing - kTrueForcing) / kTrueForcing, 0.05) << "F = " << forcing;

  // Predict runs the plugin's step too, tagged with the version.
  v1::PredictRequest predict;
  predict.set_model("lorenz96_plugin");
  predict.mutable_initial_state()->add_shape(kDim);
  predict.mutable_initial_state()->set_dtype(v1::DTYPE_FLOAT64);
  predict.mutable_initial_state()->mutable_f64()->Add(x.begin(), x.end());
  predict.mutable_horizon()->set_horizon(0.1);
  predict.mutable_horizon()->set_step(kStep);
  predict.add_interval_levels(0.9);
  absl::StatusOr<v1::PredictResponse> forecast = t.client->Predict(predict);
  ASSERT_TRUE(forecast.ok()) << forecast.status();
  EXPECT_EQ(forecast->model_version(), model->version());
  ASSERT_TRUE(truth->Advance(x.data(), &kTrueForcing, kStep, 2, next.data()).ok());
  for (int i = 0; i < kDim; ++i) EXPECT_NEAR(forecast->mean().f64(kDim + i), next[i], 0.5) << i;

  const std::string text = ScrapeMetrics(t.server->metrics_port());
  EXPECT_EQ(MetricValue(text, "hybrid_calibration_reverted_updates_total{model=\"lorenz96_plugin\"}"), 1.0) << text;
  EXPECT_EQ(MetricValue(text, "hybrid_calibration_observations_total{model=\"lorenz96_plugin\",status=\"accepted\"}"),
            static_cast<double>(kObservations - 1));
  std::optional<double> scraped = MetricValue(text, "hybrid_parameter_value{model=\"lorenz96_plugin\",param=\"F\"}");
  ASSERT_TRUE(scraped.has_value());
  EXPECT_NEAR(*scraped, forcing, 1e-9 * forcing);
}

}  // namespace
}  // namespace hybrid::testing
