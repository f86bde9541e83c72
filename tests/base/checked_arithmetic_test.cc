#include "base/checked_arithmetic.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace hybrid::base {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

TEST(CheckedArithmetic, ProductsThatFitAreExact) {
  EXPECT_EQ(CheckedProduct({}), 1);
  EXPECT_EQ(CheckedProduct({64, 1000, 3}), 192000);
  EXPECT_EQ(CheckedProduct({0, kMax, kMax}), 0);
  EXPECT_EQ(CheckedMul(int64_t{1} << 31, int64_t{1} << 31), int64_t{1} << 62);
  EXPECT_EQ(CheckedAdd(kMax - 1, 1), kMax);
}

TEST(CheckedArithmetic, OverflowIsNulloptNotAWrappedValue) {
  // 2^61 + 1 FP64 values need 2^64 + 8 bytes, which wraps to 8 in uint64.
  const int64_t count = (int64_t{1} << 61) + 1;
  EXPECT_EQ(CheckedMul(count, 8), std::nullopt);
  EXPECT_EQ(CheckedProduct({count, 8}), std::nullopt);
  EXPECT_EQ(CheckedProduct({int64_t{1} << 32, int64_t{1} << 32}), std::nullopt);
  EXPECT_EQ(CheckedAdd(kMax, 1), std::nullopt);
  EXPECT_EQ(CheckedProduct({3, -1}), std::nullopt) << "a negative dimension is not a count";
}

TEST(CheckedArithmetic, DoublesBeyondInt64AreNullopt) {
  EXPECT_EQ(CeilToCount(0.1 / 0.01 - 1e-9), 10);
  EXPECT_EQ(CeilToCount(2.5), 3);
  EXPECT_EQ(FloorToCount(2.5), 2);
  // 0.1 / 1e-30 and 1e6 / 1e-20: static_cast<int64_t> of these is undefined
  // (x86 answers INT64_MIN, which a max(1, n) turned into one step).
  EXPECT_EQ(CeilToCount(0.1 / 1e-30), std::nullopt);
  EXPECT_EQ(CeilToCount(1e6 / 1e-20), std::nullopt);
  EXPECT_EQ(CeilToCount(9223372036854775808.0), std::nullopt) << "2^63";
  EXPECT_EQ(CeilToCount(INFINITY), std::nullopt);
  EXPECT_EQ(FloorToCount(-INFINITY), std::nullopt);
  EXPECT_EQ(CeilToCount(NAN), std::nullopt);
  EXPECT_EQ(CeilToCount(9.2e18), int64_t{9200000000000000000});
}

}  // namespace
}  // namespace hybrid::base
