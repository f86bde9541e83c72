#include "solvers/fused/vector_tanh.h"

#include <algorithm>
#include <xsimd/xsimd.hpp>

namespace hybrid::solvers {
namespace {

template <typename T>
void Tanh(const T* in, T* out, int64_t n) {
  using Batch = xsimd::batch<T>;
  constexpr auto kWidth = static_cast<int64_t>(Batch::size);
  int64_t i = 0;
  for (; i + kWidth <= n; i += kWidth) xsimd::tanh(Batch::load_unaligned(in + i)).store_unaligned(out + i);
  if (i == n) return;
  alignas(Batch::arch_type::alignment()) T tail[kWidth] = {};
  std::copy(in + i, in + n, tail);
  xsimd::tanh(Batch::load_aligned(tail)).store_aligned(tail);
  std::copy(tail, tail + (n - i), out + i);
}

}  // namespace

void VectorTanh(const float* in, float* out, int64_t n) { Tanh(in, out, n); }
void VectorTanh(const double* in, double* out, int64_t n) { Tanh(in, out, n); }

}  // namespace hybrid::solvers
