// What an adversarial client found (issue 16), over the wire: request values
// whose products or ratios overflow, answers far larger than their requests,
// model names with NUL bytes, windows spanning absurd times. Each case failed
// on the server before its fix: answered OK with a wrong forecast, built a
// 310 MB answer, or added registry entries.
#include <gtest/gtest.h>

#include <string>

#include "tests/e2e/large_forecast.h"
#include "tests/e2e/test_server.h"
#include "tests/test_tensors.h"

namespace hybrid::testing {
namespace {

class HostileClient : public ::testing::Test {
 protected:
  void SetUp() override {
    t_ = StartTestServer();
    ASSERT_NE(t_.server, nullptr);
  }
  static v1::PredictRequest At(double time, double max_step) {
    v1::PredictRequest r;
    r.set_model("lorenz63");
    *r.mutable_initial_state() = F64({3}, {1.0, 1.0, 20.0});
    r.mutable_output_times()->add_times(time);
    r.set_max_step(max_step);
    return r;
  }
  void ExpectError(const absl::Status& s, absl::StatusCode code, const std::string& text) {
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_NE(s.message().find(text), absl::string_view::npos) << s;
  }
  TestServer t_;
};

// Item 1: 0.1 / 1e-30 steps overflowed int64 and became one RK4 step (the
// max_step 0.1 forecast, answered OK); 1e6 / 1e-20 answered a mean of 1e63.
TEST_F(HostileClient, StepCountsThatOverflowAreRefusedNotWrapped) {
  for (const auto& [time, max_step] : {std::pair{0.1, 1e-30}, {1e6, 1e-20}, {0.1, 1e-12}, {1e300, 1e-300}}) {
    absl::StatusOr<v1::PredictResponse> r = t_.client->Predict(At(time, max_step));
    ExpectError(r.status(), absl::StatusCode::kOutOfRange, "RK4 steps");
    ExpectError(r.status(), absl::StatusCode::kOutOfRange, "max_step");
  }
  EXPECT_TRUE(t_.client->Predict(At(0.1, 1e-3)).ok());
}

// Item 2: 64 states over 1000 output times with 100 levels asked the server
// for a 310 MB answer (2.4 KB of request). Now the size is computed first.
TEST_F(HostileClient, AnswersLargerThanTheLimitsAreRefusedBeforeAnyWork) {
  std::vector<double> levels;
  for (int i = 0; i < 100; ++i) levels.push_back(0.005 + 0.0099 * i);
  v1::PredictRequest r = LargeForecast(levels);
  ExpectError(t_.client->Predict(r).status(), absl::StatusCode::kOutOfRange, "limits.max_interval_levels");
  r.mutable_interval_levels()->Truncate(16);  // Allowed, but 16 levels take 52 MB here.
  const absl::Status too_big = t_.client->Predict(r).status();
  for (const char* field :
       {"output times (1000)", "initial_state states (64)", "16 interval_levels", "max_answer_bytes"}) {
    ExpectError(too_big, absl::StatusCode::kOutOfRange, field);
  }
  r.mutable_interval_levels()->Truncate(1);  // 6 MB: served.
  absl::StatusOr<v1::PredictResponse> served = t_.client->Predict(r);
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->mean().f64_size(), 1000 * 64 * 3);
}

// Item 3: GetModel on "lorenz63\0x" resolved to lorenz63's folder and
// LoadModel added a FAILED entry per call (300 calls, 302 entries).
TEST_F(HostileClient, ModelNamesAreValidatedAtTheEdgeAndNeverPolluteTheRegistry) {
  absl::StatusOr<v1::ListModelsResponse> before = t_.client->ListModels();
  ASSERT_TRUE(before.ok());
  const std::string nul("lorenz63\0x", 10);
  for (const std::string& name : {nul, std::string("../lorenz63"), std::string("lorenz63/"), std::string(".")}) {
    ExpectError(t_.client->GetModel(name).status(), absl::StatusCode::kInvalidArgument, "model");
    ExpectError(t_.client->LoadModel(name).status(), absl::StatusCode::kInvalidArgument, "not a model name");
    ExpectError(t_.client->UnloadModel(name), absl::StatusCode::kInvalidArgument, "not a model name");
    v1::PredictRequest p = At(0.1, 0.01);
    p.set_model(name);
    ExpectError(t_.client->Predict(p).status(), absl::StatusCode::kInvalidArgument, "model");
  }
  for (int i = 0; i < 50; ++i) {
    ExpectError(t_.client->LoadModel(nul).status(), absl::StatusCode::kInvalidArgument, "lorenz63\\x00x");
    ExpectError(t_.client->LoadModel("absent_model").status(), absl::StatusCode::kNotFound, "absent_model");
  }
  absl::StatusOr<v1::ListModelsResponse> after = t_.client->ListModels();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->models_size(), before->models_size()) << after->DebugString();
  ExpectError(t_.client->GetModel("absent_model").status(), absl::StatusCode::kNotFound, "absent_model");
}

// Item 13: a window of step 1e300 reached the solver and came back as
// "calibration loss is not finite (nan)", naming no field.
TEST_F(HostileClient, WindowsSpanningAbsurdTimesNameStepAndSteps) {
  std::unique_ptr<client::CalibrateStream> stream = t_.client->OpenCalibrate(absl::Seconds(60));
  auto send = [&](uint64_t sequence, double step, int steps) {
    v1::CalibrateRequest r;
    r.set_model("lorenz63");
    r.set_sequence(sequence);
    *r.mutable_start_state() = F64({3}, {1.0, 1.0, 20.0});
    *r.mutable_end_state() = F64({3}, {1.1, 1.3, 19.5});
    r.set_step(step);
    r.set_steps(steps);
    EXPECT_TRUE(stream->Write(r));
    v1::CalibrateResponse answer;
    EXPECT_TRUE(stream->Read(&answer));
    return absl::Status(static_cast<absl::StatusCode>(answer.status().code()), answer.status().message());
  };
  const absl::Status absurd = send(1, 1e300, 10);
  ExpectError(absurd, absl::StatusCode::kOutOfRange, "step × steps");
  ExpectError(absurd, absl::StatusCode::kOutOfRange, "max_window_duration");
  // Inside the duration limit but far past what RK4 integrates at that step.
  const absl::Status diverged = send(2, 5.0, 10);
  EXPECT_EQ(diverged.code(), absl::StatusCode::kFailedPrecondition) << diverged;
  EXPECT_NE(diverged.message().find("step"), absl::string_view::npos) << diverged;
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_TRUE(stream->Finish().ok());
  absl::StatusOr<v1::GetModelResponse> model = t_.client->GetModel("lorenz63");
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(model->version(), 0u) << "neither window changed the model";
}

}  // namespace
}  // namespace hybrid::testing
