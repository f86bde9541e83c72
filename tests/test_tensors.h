// Builds wire tensors for tests.
#pragma once

#include <cstdint>
#include <vector>

#include "hybrid/v1/tensor.pb.h"

namespace hybrid::testing {

inline v1::Tensor F64(const std::vector<int64_t>& shape, const std::vector<double>& values) {
  v1::Tensor t;
  for (int64_t d : shape) t.add_shape(d);
  t.set_dtype(v1::DTYPE_FLOAT64);
  for (double v : values) t.add_f64(v);
  return t;
}

}  // namespace hybrid::testing
