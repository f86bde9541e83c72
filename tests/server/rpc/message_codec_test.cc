// Request decoding: output grids, defaults and required fields.
#include "server/rpc/message_codec.h"

#include <gtest/gtest.h>

#include "server/rpc/status_conversion.h"

namespace hybrid::server::rpc {
namespace {

v1::PredictRequest Request() {
  v1::PredictRequest r;
  r.set_model("m");
  r.mutable_initial_state()->add_shape(1);
  r.mutable_initial_state()->set_dtype(v1::DTYPE_FLOAT64);
  r.mutable_initial_state()->add_f64(1.0);
  return r;
}

TEST(MessageCodec, HorizonGivesAUniformGridEndingAtTheHorizon) {
  v1::PredictRequest r = Request();
  r.mutable_horizon()->set_horizon(0.3);
  r.mutable_horizon()->set_step(0.1);  // 0.3 / 0.1 = 2.9999999999999996 in binary.
  absl::StatusOr<PredictQuery> q = DecodePredictRequest(r);
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_EQ(q->times.size(), 3u);
  EXPECT_DOUBLE_EQ(q->times[2], 0.30000000000000004);
  EXPECT_EQ(q->max_step, 0.01);  // Default.
}

TEST(MessageCodec, PredictNeedsAnOutputGridAndAModel) {
  v1::PredictRequest r = Request();
  EXPECT_NE(DecodePredictRequest(r).status().message().find("horizon or output_times"), absl::string_view::npos);
  r.mutable_horizon()->set_horizon(1.0);
  r.mutable_horizon()->set_step(-0.1);
  EXPECT_NE(DecodePredictRequest(r).status().message().find("horizon.step"), absl::string_view::npos);
  r.mutable_horizon()->set_step(1e-9);
  EXPECT_EQ(DecodePredictRequest(r).status().code(), absl::StatusCode::kOutOfRange);
  r.clear_model();
  EXPECT_NE(DecodePredictRequest(r).status().message().find("model"), absl::string_view::npos);
}

TEST(MessageCodec, CalibrateRequiresBothStates) {
  v1::CalibrateRequest r;
  r.set_model("m");
  r.set_sequence(7);
  *r.mutable_start_state() = Request().initial_state();
  absl::StatusOr<Observation> o = DecodeCalibrateRequest(r);
  EXPECT_NE(o.status().message().find("end_state"), absl::string_view::npos);
  *r.mutable_end_state() = Request().initial_state();
  r.set_step(0.01);
  r.set_steps(3);
  o = DecodeCalibrateRequest(r);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->sequence, 7u);
  EXPECT_EQ(o->steps, 3);
}

TEST(StatusConversion, KeepsTheCodeAndCutsLongMessagesOnACharacterBoundary) {
  std::string message(600, 'a');
  message.replace(kMaxStatusMessage - 4, 3, "≥");  // A 3-byte character across the cut.
  const grpc::Status s = ToGrpcStatus(absl::InvalidArgumentError(message));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_LE(s.error_message().size(), kMaxStatusMessage);
  EXPECT_EQ(s.error_message().substr(s.error_message().size() - 3), "...");
  EXPECT_EQ(s.error_message().find('\xe2'), std::string::npos);  // No half character left.
  EXPECT_EQ(CodeName(absl::StatusCode::kResourceExhausted), "RESOURCE_EXHAUSTED");
}

}  // namespace
}  // namespace hybrid::server::rpc
