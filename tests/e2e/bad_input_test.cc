// Bad input over the wire: every malformed Predict or Calibrate request gets
// the right code and a message naming the field, Calibrate streams stay open
// after rejections, and no rejected request changes the model.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/e2e/test_server.h"
#include "tests/test_tensors.h"

namespace hybrid::testing {
namespace {

v1::PredictRequest GoodPredict() {
  v1::PredictRequest r;
  r.set_model("lorenz63");
  *r.mutable_initial_state() = F64({3}, {1.0, 1.0, 20.0});
  r.mutable_horizon()->set_horizon(0.5);
  r.mutable_horizon()->set_step(0.1);
  return r;
}

v1::CalibrateRequest GoodObservation(uint64_t sequence) {
  v1::CalibrateRequest r;
  r.set_model("lorenz63");
  r.set_sequence(sequence);
  *r.mutable_start_state() = F64({2, 3}, {1.0, 1.0, 20.0, -3.0, -4.0, 22.0});
  *r.mutable_end_state() = F64({2, 3}, {1.1, 1.3, 19.5, -3.2, -4.5, 21.6});
  r.set_step(0.01);
  r.set_steps(5);
  return r;
}

struct Case {
  const char* what;
  std::function<void(v1::CalibrateRequest&)> spoil;
  absl::StatusCode code;
  const char* field;
};

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    t_ = StartTestServer();
    ASSERT_NE(t_.server, nullptr);
  }
  void ExpectPredictError(const v1::PredictRequest& r, absl::StatusCode code, const std::string& field) {
    absl::StatusOr<v1::PredictResponse> answer = t_.client->Predict(r);
    EXPECT_EQ(answer.status().code(), code) << answer.status();
    EXPECT_NE(answer.status().message().find(field), absl::string_view::npos) << answer.status();
  }
  TestServer t_;
};

TEST_F(BadInput, PredictErrorsNameTheField) {
  ASSERT_TRUE(t_.client->Predict(GoodPredict()).ok());
  v1::PredictRequest r = GoodPredict();
  r.set_model("no_such_model");
  ExpectPredictError(r, absl::StatusCode::kNotFound, "no_such_model");
  r = GoodPredict();
  *r.mutable_initial_state() = F64({2}, {1.0, 2.0});
  ExpectPredictError(r, absl::StatusCode::kInvalidArgument, "initial_state");
  r = GoodPredict();
  *r.mutable_initial_state() = F64({3}, {1.0, NAN, 2.0});
  ExpectPredictError(r, absl::StatusCode::kInvalidArgument, "initial_state");
  r = GoodPredict();
  *r.mutable_initial_state() = F64({3}, {1.0, INFINITY, 2.0});
  ExpectPredictError(r, absl::StatusCode::kInvalidArgument, "finite");
  r = GoodPredict();
  r.mutable_horizon()->set_step(0.0);
  ExpectPredictError(r, absl::StatusCode::kInvalidArgument, "horizon.step");
  r = GoodPredict();
  r.set_max_step(-0.01);
  ExpectPredictError(r, absl::StatusCode::kInvalidArgument, "max_step");
  r = GoodPredict();
  r.add_interval_levels(1.5);
  ExpectPredictError(r, absl::StatusCode::kInvalidArgument, "interval_levels[0]");
  r = GoodPredict();
  r.clear_horizon();
  r.mutable_output_times()->add_times(0.5);
  r.mutable_output_times()->add_times(0.2);
  ExpectPredictError(r, absl::StatusCode::kInvalidArgument, "output_times.times[1]");
  r = GoodPredict();
  r.mutable_horizon()->set_horizon(1e4);
  r.mutable_horizon()->set_step(1e3);  // 10 outputs but 1e6 RK4 steps: above the model's limit.
  ExpectPredictError(r, absl::StatusCode::kOutOfRange, "RK4 steps");
  r.mutable_horizon()->set_step(0.5);  // 20000 outputs: above the model's limit.
  ExpectPredictError(r, absl::StatusCode::kOutOfRange, "output times");
  r = GoodPredict();
  r.set_ensemble_size(1000);  // The test model has far fewer members.
  ExpectPredictError(r, absl::StatusCode::kOutOfRange, "ensemble_size");
  r.set_ensemble_size(-2);
  ExpectPredictError(r, absl::StatusCode::kInvalidArgument, "ensemble_size");
  ExpectPredictError(v1::PredictRequest(), absl::StatusCode::kInvalidArgument, "model");
}

// A forecast of ~100 000 RK4 steps (seconds of work) ended by its deadline or
// by the client's cancel: the server itself stops between solver steps and
// records DEADLINE_EXCEEDED / CANCELLED (had it finished the forecast, its
// request counter would say OK), then serves the next request.
TEST_F(BadInput, PredictStopsBetweenSolverStepsAtTheDeadlineOrACancel) {
  std::unique_ptr<v1::HybridService::Stub> stub = v1::HybridService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(t_.server->grpc_port()), grpc::InsecureChannelCredentials()));
  v1::PredictRequest r = GoodPredict();
  r.mutable_horizon()->set_horizon(1.0);
  r.mutable_horizon()->set_step(1.0);
  r.set_max_step(1.0001e-5);  // 99 990 steps: just inside the model's max_total_steps.
  v1::PredictResponse response;
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
    EXPECT_EQ(stub->Predict(&context, r, &response).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  {
    grpc::ClientContext context;
    std::thread canceller([&context] {
      absl::SleepFor(absl::Milliseconds(300));
      context.TryCancel();
    });
    EXPECT_EQ(stub->Predict(&context, r, &response).error_code(), grpc::StatusCode::CANCELLED);
    canceller.join();
  }
  auto count = [&](const std::string& text, const char* code) {
    return MetricValue(text,
                       absl::StrCat("hybrid_requests_total{code=\"", code, "\",model=\"lorenz63\",rpc=\"Predict\"}"))
        .value_or(0.0);
  };
  std::string text;
  for (int i = 0; i < 100; ++i) {  // The server answers on its own schedule; the client has already gone.
    text = ScrapeMetrics(t_.server->metrics_port());
    if (count(text, "DEADLINE_EXCEEDED") + count(text, "CANCELLED") + count(text, "OK") >= 2) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(count(text, "DEADLINE_EXCEEDED"), 1.0) << text;
  EXPECT_EQ(count(text, "CANCELLED"), 1.0) << text;
  EXPECT_EQ(count(text, "OK"), 0.0) << text;
  EXPECT_TRUE(t_.client->Predict(GoodPredict()).ok());
}

// Regression: answers rejected at decoding used to overtake the worker's
// answers to earlier observations when a client sent without waiting.
TEST_F(BadInput, PipelinedAnswersKeepArrivalOrder) {
  std::unique_ptr<client::CalibrateStream> stream = t_.client->OpenCalibrate(absl::Seconds(60));
  for (uint64_t sequence = 1; sequence <= 12; ++sequence) {
    v1::CalibrateRequest r = GoodObservation(sequence);
    if (sequence % 4 == 0) r.set_step(-1.0);  // Rejected on arrival.
    ASSERT_TRUE(stream->Write(r));
  }
  ASSERT_TRUE(stream->WritesDone());
  std::vector<uint64_t> order;
  v1::CalibrateResponse answer;
  while (stream->Read(&answer)) {
    order.push_back(answer.sequence());
    EXPECT_EQ(answer.status().code() != 0, answer.sequence() % 4 == 0) << answer.sequence();
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(order, (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
}

TEST_F(BadInput, CalibrateRejectsInStreamAndLeavesTheModelUnchanged) {
  absl::StatusOr<v1::GetModelResponse> before = t_.client->GetModel("lorenz63");
  ASSERT_TRUE(before.ok());
  const std::vector<Case> cases = {
      {"unknown model", [](auto& r) { r.set_model("nope"); }, absl::StatusCode::kNotFound, "nope"},
      {"wrong width",
       [](auto& r) {
         *r.mutable_start_state() = F64({2, 2}, {1, 2, 3, 4});
       },
       absl::StatusCode::kInvalidArgument, "start_state"},
      {"shape mismatch",
       [](auto& r) {
         *r.mutable_end_state() = F64({3, 2}, {1, 2, 3, 4, 5, 6});
       },
       absl::StatusCode::kInvalidArgument, "end_state"},
      {"NaN", [](auto& r) { r.mutable_end_state()->set_f64(4, NAN); }, absl::StatusCode::kInvalidArgument, "end_state"},
      {"values missing", [](auto& r) { r.mutable_start_state()->mutable_f64()->RemoveLast(); },
       absl::StatusCode::kInvalidArgument, "start_state"},
      {"zero step", [](auto& r) { r.set_step(0.0); }, absl::StatusCode::kInvalidArgument, "step"},
      {"negative step", [](auto& r) { r.set_step(-0.01); }, absl::StatusCode::kInvalidArgument, "step"},
      {"no steps", [](auto& r) { r.set_steps(0); }, absl::StatusCode::kInvalidArgument, "steps"},
      {"too many steps", [](auto& r) { r.set_steps(100000); }, absl::StatusCode::kOutOfRange, "max_window_steps"},
      {"no end state", [](auto& r) { r.clear_end_state(); }, absl::StatusCode::kInvalidArgument, "end_state"},
  };
  std::unique_ptr<client::CalibrateStream> stream = t_.client->OpenCalibrate(absl::Seconds(60));
  uint64_t sequence = 0;
  for (const Case& c : cases) {
    v1::CalibrateRequest r = GoodObservation(++sequence);
    c.spoil(r);
    ASSERT_TRUE(stream->Write(r)) << c.what;
    v1::CalibrateResponse answer;
    ASSERT_TRUE(stream->Read(&answer)) << c.what;
    EXPECT_EQ(answer.sequence(), sequence) << c.what;
    EXPECT_EQ(answer.status().code(), static_cast<int>(c.code)) << c.what << ": " << answer.status().message();
    EXPECT_NE(answer.status().message().find(c.field), std::string::npos)
        << c.what << ": " << answer.status().message();
  }

  absl::StatusOr<v1::GetModelResponse> unchanged = t_.client->GetModel("lorenz63");
  ASSERT_TRUE(unchanged.ok());
  EXPECT_EQ(unchanged->version(), 0u);
  ASSERT_EQ(unchanged->parameters_size(), before->parameters_size());
  for (int i = 0; i < before->parameters_size(); ++i) {
    EXPECT_EQ(unchanged->parameters(i).value(), before->parameters(i).value()) << before->parameters(i).name();
  }

  // The stream is still open and still works.
  ASSERT_TRUE(stream->Write(GoodObservation(++sequence)));
  v1::CalibrateResponse accepted;
  ASSERT_TRUE(stream->Read(&accepted));
  EXPECT_EQ(accepted.status().code(), 0) << accepted.status().message();
  EXPECT_EQ(accepted.model_version(), 1u);
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_TRUE(stream->Finish().ok());

  const std::string text = ScrapeMetrics(t_.server->metrics_port());
  EXPECT_EQ(MetricValue(text, "hybrid_calibration_observations_total{model=\"lorenz63\",status=\"rejected\"}"), 9.0)
      << "every rejection of a served model's observation counts; the unknown model's does not";
}

}  // namespace
}  // namespace hybrid::testing
