// The tensor codec rejects every malformed tensor with a message naming the field.
#include "server/rpc/tensor_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tests/test_tensors.h"

namespace hybrid::server::rpc {
namespace {

using ::hybrid::testing::F64;

void ExpectInvalid(const v1::Tensor& t, const std::string& fragment) {
  absl::StatusOr<DenseArray> a = DecodeTensor(t, "start_state");
  ASSERT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(a.status().message().find("start_state"), absl::string_view::npos) << a.status();
  EXPECT_NE(a.status().message().find(fragment), absl::string_view::npos) << a.status();
}

TEST(TensorCodec, RoundTripsFloat64) {
  const DenseArray in{{2, 3}, {1, 2, 3, 4, 5, 6.5}};
  absl::StatusOr<DenseArray> out = DecodeTensor(EncodeTensor(in), "x");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->shape, in.shape);
  EXPECT_EQ(out->values, in.values);
}

TEST(TensorCodec, DecodesFloat32) {
  v1::Tensor t;
  t.add_shape(2);
  t.set_dtype(v1::DTYPE_FLOAT32);
  t.add_f32(0.5f);
  t.add_f32(-2.0f);
  absl::StatusOr<DenseArray> out = DecodeTensor(t, "x");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->values, (std::vector<double>{0.5, -2.0}));
}

TEST(TensorCodec, RejectsMalformedTensors) {
  ExpectInvalid(F64({2, 3}, {1, 2, 3}), "6 values but 3");
  ExpectInvalid(F64({-1}, {}), "shape[0]");
  ExpectInvalid(F64({2}, {1, std::nan("")}), "value 1");
  ExpectInvalid(F64({1}, {std::numeric_limits<double>::infinity()}), "finite");
  v1::Tensor no_dtype = F64({1}, {1});
  no_dtype.set_dtype(v1::DTYPE_UNSPECIFIED);
  ExpectInvalid(no_dtype, "dtype");
  v1::Tensor mixed = F64({1}, {1});
  mixed.add_f32(1.0f);
  ExpectInvalid(mixed, "f32");
  ExpectInvalid(F64({1 << 20, 1 << 20, 1 << 20}, {}), "more than");
}

}  // namespace
}  // namespace hybrid::server::rpc
