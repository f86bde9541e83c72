// Tensor codec: hybrid.v1.Tensor ⇄ DenseArray, validated once at the edge.
//
//   absl::StatusOr<DenseArray> a = DecodeTensor(request.initial_state(), "initial_state");
//
// Decode checks: dtype set; every dimension ≥ 0; the value count equals the
// product of the shape and sits in the field of the stated dtype; every value is
// finite; at most kMaxTensorValues values. Failures are INVALID_ARGUMENT and
// start with `field`. Thread-safe (pure functions).
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "hybrid/v1/tensor.pb.h"
#include "server/core/domain_types.h"

namespace hybrid::server::rpc {

inline constexpr int64_t kMaxTensorValues = int64_t{1} << 26;

absl::StatusOr<DenseArray> DecodeTensor(const v1::Tensor& tensor, absl::string_view field);

// The number of values a shape holds, for every protocol's tensors:
// INVALID_ARGUMENT starting with `field` for a negative dimension or more than
// kMaxTensorValues values (the product is computed overflow-safe).
absl::StatusOr<int64_t> ShapeValueCount(absl::Span<const int64_t> shape, absl::string_view field);

// Encodes as float64 (or float32 when `dtype` says so).
v1::Tensor EncodeTensor(const DenseArray& array, v1::DType dtype = v1::DTYPE_FLOAT64);

}  // namespace hybrid::server::rpc
