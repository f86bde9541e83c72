// VectorTanhActivation: tanh(x) as a differentiable LibTorch operation whose
// forward runs xsimd's vector tanh (solvers/fused/vector_tanh.h) instead of
// Debian's at::tanh (80–96 µs vs 3.1–3.9 ms on a [16, 16, 32, 32] float field);
// the backward is at::tanh_backward on the saved output, itself
// differentiable, so higher derivatives stay exact. The networks' hidden
// activations use it.
//
//   at::Tensor h = VectorTanhActivation(at::conv2d(...));
//
// Any shape; the output keeps a dense input's layout (channels-last too).
// float32 and float64 on the CPU take the vector path, anything else (other
// dtypes or devices) at::tanh. Thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

namespace hybrid::solvers {

at::Tensor VectorTanhActivation(const at::Tensor& x);

}  // namespace hybrid::solvers
