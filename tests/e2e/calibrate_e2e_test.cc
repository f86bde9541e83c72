// End to end over loopback: a real server with the shipped default model,
// observations of a simulated Lorenz-63 (ρ = 28) streamed through Calibrate,
// ρ recovered from its wrong start, Predict tagged with the new version, and
// the estimate visible in Prometheus text scraped over HTTP.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <sstream>
#include <thread>

#include "client/calibrate_session.h"
#include "client/observation_windows.h"
#include "tests/e2e/test_server.h"

namespace hybrid::testing {
namespace {

constexpr int64_t kObservations = 150;

double Rho(const std::vector<v1::ParameterEstimate>& ps) {
  for (const auto& p : ps)
    if (p.name() == "rho") return p.value();
  return NAN;
}

v1::PredictRequest ForecastRequest(const std::vector<double>& state) {
  v1::PredictRequest r;
  r.set_model("lorenz63");
  r.mutable_initial_state()->add_shape(3);
  r.mutable_initial_state()->set_dtype(v1::DTYPE_FLOAT64);
  r.mutable_initial_state()->mutable_f64()->Add(state.begin(), state.end());
  r.mutable_horizon()->set_horizon(0.2);
  r.mutable_horizon()->set_step(0.05);
  r.add_interval_levels(0.9);
  return r;
}

TEST(CalibrateEndToEnd, RecoversRhoAndPublishesItEverywhere) {
  TestServer t = StartTestServer();
  ASSERT_NE(t.server, nullptr);
  ASSERT_TRUE(t.client->IsServing().value());

  absl::StatusOr<v1::GetModelResponse> before = t.client->GetModel("lorenz63");
  ASSERT_TRUE(before.ok()) << before.status();
  const double initial_error = std::abs(Rho({before->parameters().begin(), before->parameters().end()}) - 28.0) / 28.0;
  ASSERT_GT(initial_error, 0.2);  // The shipped model starts wrong (ρ ≈ 20).

  client::Lorenz63SimulationOptions sim;
  sim.noise_std = 0.05;
  sim.windows = (kObservations + 1) * 8;
  const client::WindowSet windows = client::SimulateLorenz63Windows(sim).value();

  // Predict keeps answering from snapshots while calibration runs.
  std::atomic<bool> streaming{true};
  std::atomic<int> predictions{0};
  std::atomic<uint64_t> last_seen_version{0};
  std::thread reader([&] {
    while (streaming) {
      absl::StatusOr<v1::PredictResponse> r = t.client->Predict(ForecastRequest(windows.windows[0].start));
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_GE(r->model_version(), last_seen_version.load());  // Versions never go back.
      last_seen_version = r->model_version();
      ++predictions;
    }
  });
  client::CalibrationRunOptions run;
  run.model = "lorenz63";
  run.max_observations = kObservations;
  run.report_every = 50;  // The final report's loss then averages the last 50 observations.
  absl::StatusOr<client::CalibrationReport> report = client::StreamCalibration(*t.client, windows, run, nullptr);
  streaming = false;
  reader.join();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->accepted, kObservations);
  EXPECT_EQ(report->version, static_cast<uint64_t>(kObservations));
  EXPECT_GT(predictions.load(), 0);

  const double rho = Rho(report->parameters);
  EXPECT_LT(std::abs(rho - 28.0) / 28.0, 0.02) << "rho = " << rho;
  EXPECT_LT(report->recent_loss, 0.05);  // Near the noise floor 2σ² = 0.005.

  absl::StatusOr<v1::GetModelResponse> after = t.client->GetModel("lorenz63");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->version(), static_cast<uint64_t>(kObservations));
  EXPECT_DOUBLE_EQ(Rho({after->parameters().begin(), after->parameters().end()}), rho);

  // A forecast from a true state is tagged with the version and brackets the truth.
  const client::Window& w = windows.windows.back();
  absl::StatusOr<v1::PredictResponse> forecast = t.client->Predict(ForecastRequest(w.true_start));
  ASSERT_TRUE(forecast.ok()) << forecast.status();
  EXPECT_EQ(forecast->model_version(), static_cast<uint64_t>(kObservations));
  ASSERT_EQ(forecast->times_size(), 4);
  ASSERT_EQ(forecast->mean().shape_size(), 2);
  std::vector<double> x = w.true_start;
  for (int i = 0; i < 20; ++i) x = client::Lorenz63Rk4Step(x, 0.01, 10.0, 28.0, 8.0 / 3.0);
  for (int d = 0; d < 3; ++d) {
    EXPECT_NEAR(forecast->mean().f64(9 + d), x[d], 0.5) << "component " << d;
    EXPECT_LT(forecast->intervals(0).lower().f64(9 + d), forecast->mean().f64(9 + d));
    EXPECT_GT(forecast->intervals(0).upper().f64(9 + d), forecast->mean().f64(9 + d));
  }

  const std::string text = ScrapeMetrics(t.server->metrics_port());
  ASSERT_FALSE(text.empty());
  std::optional<double> scraped = MetricValue(text, "hybrid_parameter_value{model=\"lorenz63\",param=\"rho\"}");
  ASSERT_TRUE(scraped.has_value()) << text;
  EXPECT_NEAR(*scraped, rho, 1e-9 * rho);
  EXPECT_EQ(MetricValue(text, "hybrid_model_version{model=\"lorenz63\"}"), static_cast<double>(kObservations));
  EXPECT_EQ(MetricValue(text, "hybrid_calibration_observations_total{model=\"lorenz63\",status=\"accepted\"}"),
            static_cast<double>(kObservations));
  EXPECT_EQ(MetricValue(text, "hybrid_requests_total{code=\"OK\",model=\"lorenz63\",rpc=\"Calibrate\"}"), 1.0);
  std::optional<double> coverage =
      MetricValue(text, "hybrid_interval_coverage_ratio{level=\"0.9\",model=\"lorenz63\"}");
  ASSERT_TRUE(coverage.has_value());
  EXPECT_GT(*coverage, 0.5);
}

}  // namespace
}  // namespace hybrid::testing

namespace hybrid::testing {
namespace {

TEST(CalibrateEndToEnd, ACancelledStreamLeavesTheServerHealthy) {
  TestServer t = StartTestServer();
  ASSERT_NE(t.server, nullptr);
  client::Lorenz63SimulationOptions sim;
  sim.windows = 40 * 8;
  const client::WindowSet windows = client::SimulateLorenz63Windows(sim).value();
  {
    std::unique_ptr<client::CalibrateStream> stream = t.client->OpenCalibrate(absl::Seconds(30));
    for (int k = 0; k < 40; ++k) {
      v1::CalibrateRequest r;
      r.set_model("lorenz63");
      r.set_sequence(k + 1);
      for (int w = 0; w < 8; ++w) {
        const client::Window& window = windows.windows[k * 8 + w];
        r.mutable_start_state()->mutable_f64()->Add(window.start.begin(), window.start.end());
        r.mutable_end_state()->mutable_f64()->Add(window.end.begin(), window.end.end());
      }
      for (v1::Tensor* t : {r.mutable_start_state(), r.mutable_end_state()}) {
        t->add_shape(8);
        t->add_shape(3);
        t->set_dtype(v1::DTYPE_FLOAT64);
      }
      r.set_step(0.01);
      r.set_steps(10);
      ASSERT_TRUE(stream->Write(r));
    }
    // Destroyed without reading or finishing: the client cancels while answers are pending.
  }
  // What the server had read is still applied; what it had not is dropped with
  // the stream. Wait until the worker is idle (version stable), then check that
  // the server and a new stream still work.
  uint64_t version = 0;
  for (int stable = 0, i = 0; stable < 3 && i < 100; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    absl::StatusOr<v1::GetModelResponse> model = t.client->GetModel("lorenz63");
    ASSERT_TRUE(model.ok()) << model.status();
    stable = model->version() == version ? stable + 1 : 0;
    version = model->version();
  }
  EXPECT_LE(version, 40u);
  client::CalibrationRunOptions run;
  run.model = "lorenz63";
  run.max_observations = 1;
  absl::StatusOr<client::CalibrationReport> again = client::StreamCalibration(*t.client, windows, run, nullptr);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->version, version + 1);
  EXPECT_TRUE(t.client->IsServing().value());
  const std::string text = ScrapeMetrics(t.server->metrics_port());
  // Both streams are recorded exactly once, whatever their code and label (the
  // cancelled one has model="" if the server read nothing of it; a cancel that
  // races a half-close may read as either).
  double streams = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("hybrid_requests_total{", 0) == 0 && line.find("rpc=\"Calibrate\"") != std::string::npos) {
      streams += std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  EXPECT_EQ(streams, 2.0) << text;
}

}  // namespace
}  // namespace hybrid::testing
