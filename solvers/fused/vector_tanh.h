// VectorTanh: out[i] = tanh(in[i]) for n contiguous values through xsimd,
// on the build machine's vector units (library hybrid_fused_kernels, no
// LibTorch). Every value goes through the vector code, the tail padded, so
// a value's tanh does not depend on where it falls in the array: forecasts
// solved together (dynamic batching) answer what each would alone, bit for
// bit. in == out is allowed (in place); otherwise the ranges must not overlap.
//
//   VectorTanh(h.data(), h.data(), h.size());
//
// Why not at::tanh: Debian's LibTorch takes 3.1–3.9 ms for 262 144 floats on
// our machines (its sigmoid 0.25 ms); this takes 80–96 µs.
// Accuracy: xsimd's, within a few ulp of libm. Thread-safe (no state).
#pragma once

#include <cstdint>

namespace hybrid::solvers {

void VectorTanh(const float* in, float* out, int64_t n);
void VectorTanh(const double* in, double* out, int64_t n);

}  // namespace hybrid::solvers
