#include "server/rpc/tensor_codec.h"

#include <cmath>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/checked_arithmetic.h"

namespace hybrid::server::rpc {
namespace {

template <typename Values>
absl::Status CopyFinite(const Values& values, absl::string_view field, std::vector<double>& out) {
  out.reserve(values.size());
  for (int i = 0; i < values.size(); ++i) {
    const double v = static_cast<double>(values.Get(i));
    if (!std::isfinite(v)) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": value ", i, " is ", v, " (must be finite)"));
    }
    out.push_back(v);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> ShapeValueCount(absl::Span<const int64_t> shape, absl::string_view field) {
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".shape[", i, "] = ", shape[i], " is negative"));
    }
  }
  const std::optional<int64_t> count = base::CheckedProduct(shape);
  if (!count || *count > kMaxTensorValues) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": the shape holds more than ", kMaxTensorValues, " values"));
  }
  return *count;
}

absl::StatusOr<DenseArray> DecodeTensor(const v1::Tensor& tensor, absl::string_view field) {
  DenseArray out;
  out.shape.assign(tensor.shape().begin(), tensor.shape().end());
  absl::StatusOr<int64_t> values = ShapeValueCount(out.shape, field);
  if (!values.ok()) return values.status();
  const int64_t count = *values;
  int64_t provided = 0;
  absl::Status copied;
  switch (tensor.dtype()) {
    case v1::DTYPE_FLOAT64:
      if (tensor.f32_size() != 0)
        return absl::InvalidArgumentError(absl::StrCat(field, ": dtype is FLOAT64 but f32 is set"));
      provided = tensor.f64_size();
      if (provided == count) copied = CopyFinite(tensor.f64(), field, out.values);
      break;
    case v1::DTYPE_FLOAT32:
      if (tensor.f64_size() != 0)
        return absl::InvalidArgumentError(absl::StrCat(field, ": dtype is FLOAT32 but f64 is set"));
      provided = tensor.f32_size();
      if (provided == count) copied = CopyFinite(tensor.f32(), field, out.values);
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(field, ".dtype must be DTYPE_FLOAT64 or DTYPE_FLOAT32"));
  }
  if (provided != count) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": shape holds ", count, " values but ", provided, " were sent"));
  }
  if (!copied.ok()) return copied;
  return out;
}

v1::Tensor EncodeTensor(const DenseArray& array, v1::DType dtype) {
  v1::Tensor t;
  for (int64_t d : array.shape) t.add_shape(d);
  t.set_dtype(dtype);
  if (dtype == v1::DTYPE_FLOAT32) {
    t.mutable_f32()->Reserve(static_cast<int>(array.values.size()));
    for (double v : array.values) t.add_f32(static_cast<float>(v));
  } else {
    t.mutable_f64()->Add(array.values.begin(), array.values.end());
  }
  return t;
}

}  // namespace hybrid::server::rpc
