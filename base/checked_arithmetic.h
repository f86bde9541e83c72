// Overflow-safe counts: the one place where products and ratios of values a
// request controls (tensor shapes, horizons, step sizes, levels) become
// counts of values, bytes or solver steps.
//
//   std::optional<int64_t> values = CheckedProduct({batch, times, dim});
//   if (!values || *values > limit) return absl::OutOfRangeError(...);
//   std::optional<int64_t> steps = CeilToCount(horizon / max_step);   // nullopt for 1e29, inf, NaN
//
// Every function answers std::nullopt instead of wrapping (signed overflow is
// undefined behaviour in C++; a double beyond int64's range converts to an
// arbitrary value), so a caller can never mistake 2^61 · 8 bytes for 8 bytes
// or 1e29 steps for one. Header-only, no dependencies beyond the standard
// library and absl::Span; pure functions, thread-safe.
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <optional>

#include "absl/types/span.h"

namespace hybrid::base {

inline std::optional<int64_t> CheckedAdd(int64_t a, int64_t b) {
  int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) return std::nullopt;
  return sum;
}

inline std::optional<int64_t> CheckedMul(int64_t a, int64_t b) {
  int64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) return std::nullopt;
  return product;
}

// The product of counts: nullopt when a factor is negative or the product
// overflows int64. The empty product is 1 (a scalar's shape).
inline std::optional<int64_t> CheckedProduct(absl::Span<const int64_t> factors) {
  int64_t product = 1;
  for (int64_t f : factors) {
    if (f < 0) return std::nullopt;
    std::optional<int64_t> next = CheckedMul(product, f);
    if (!next) return std::nullopt;
    product = *next;
  }
  return product;
}
inline std::optional<int64_t> CheckedProduct(std::initializer_list<int64_t> factors) {
  return CheckedProduct(absl::Span<const int64_t>(factors.begin(), factors.size()));
}

// ⌈x⌉ and ⌊x⌋ as int64: nullopt for NaN, ±inf and values outside int64's
// range (2^63 itself is not representable, hence the strict bound).
inline std::optional<int64_t> CeilToCount(double x) {
  const double c = std::ceil(x);
  if (!(c >= -9223372036854775808.0 && c < 9223372036854775808.0)) return std::nullopt;
  return static_cast<int64_t>(c);
}
inline std::optional<int64_t> FloorToCount(double x) {
  const double f = std::floor(x);
  if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0)) return std::nullopt;
  return static_cast<int64_t>(f);
}

}  // namespace hybrid::base
