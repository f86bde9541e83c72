// The forcing's counter-based normal draws (solvers/fused/step_noise.h)
// against the standard normal: mean, variance and the Kolmogorov–Smirnov
// distance to Φ, and no correlation between neighbouring steps, members, rows
// or components (a counter mix-up shows as a correlation of 1); a draw depends
// on its own indices only.
#include "solvers/fused/step_noise.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace hybrid::solvers {
namespace {

constexpr int64_t kSteps = 400, kMembers = 5, kRows = 10, kDim = 6;

// draws[((s · M + m) · R + r) · D + d] for every index of the grid above.
std::vector<double> Grid(uint64_t seed) {
  std::vector<int64_t> rows(kRows);
  for (int64_t r = 0; r < kRows; ++r) rows[r] = r;
  std::vector<double> out(kSteps * kMembers * kRows * kDim);
  for (int64_t s = 0; s < kSteps; ++s) {
    for (int64_t m = 0; m < kMembers; ++m) {
      StepNormals(StepNoise{seed, rows.data(), kRows, kDim}, s, m, out.data() + (s * kMembers + m) * kRows * kDim);
    }
  }
  return out;
}

double At(const std::vector<double>& g, int64_t s, int64_t m, int64_t r, int64_t d) {
  return g[((s * kMembers + m) * kRows + r) * kDim + d];
}

// Sample correlation of the pairs (a_i, b_i).
double Correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = static_cast<double>(a.size());
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i) ma += a[i] / n, mb += b[i] / n;
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += (a[i] - ma) * (b[i] - mb), aa += (a[i] - ma) * (a[i] - ma), bb += (b[i] - mb) * (b[i] - mb);
  }
  return ab / std::sqrt(aa * bb);
}

TEST(StepNoise, DrawsAreStandardNormal) {
  std::vector<double> g = Grid(2024);
  const double n = static_cast<double>(g.size());
  double mean = 0, second = 0;
  for (double v : g) mean += v / n, second += v * v / n;
  EXPECT_NEAR(mean, 0.0, 5.0 / std::sqrt(n));
  EXPECT_NEAR(second - mean * mean, 1.0, 5.0 * std::sqrt(2.0 / n));
  std::sort(g.begin(), g.end());
  double ks = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double phi = 0.5 * std::erfc(-g[i] / std::sqrt(2.0));
    ks = std::max({ks, std::abs(phi - static_cast<double>(i) / n), std::abs(static_cast<double>(i + 1) / n - phi)});
  }
  // Kolmogorov's distribution: P(√n D > 1.95) ≈ 0.001.
  EXPECT_LT(ks * std::sqrt(n), 1.95) << "KS distance " << ks;
}

TEST(StepNoise, NeighbouringIndicesAreUncorrelated) {
  const std::vector<double> g = Grid(99);
  struct Lag {
    const char* what;
    int64_t ds, dm, dr, dd;
  };
  for (const Lag& lag : {Lag{"step", 1, 0, 0, 0}, Lag{"member", 0, 1, 0, 0}, Lag{"row", 0, 0, 1, 0},
                         Lag{"component", 0, 0, 0, 1}, Lag{"component block", 0, 0, 0, 4}}) {
    std::vector<double> a, b;
    for (int64_t s = 0; s + lag.ds < kSteps; ++s) {
      for (int64_t m = 0; m + lag.dm < kMembers; ++m) {
        for (int64_t r = 0; r + lag.dr < kRows; ++r) {
          for (int64_t d = 0; d + lag.dd < kDim; ++d) {
            a.push_back(At(g, s, m, r, d));
            b.push_back(At(g, s + lag.ds, m + lag.dm, r + lag.dr, d + lag.dd));
          }
        }
      }
    }
    EXPECT_LT(std::abs(Correlation(a, b)), 5.0 / std::sqrt(static_cast<double>(a.size()))) << lag.what;
  }
  const std::vector<double> other = Grid(100);
  EXPECT_LT(std::abs(Correlation(g, other)), 5.0 / std::sqrt(static_cast<double>(g.size()))) << "seeds";
}

TEST(StepNoise, ADrawDependsOnItsOwnIndicesOnly) {
  // Rows of two forecasts batched (0, 1, 2 | 0, 1) against each alone.
  const std::vector<int64_t> batched = {0, 1, 2, 0, 1}, alone = {0, 1, 2};
  std::vector<double> together(5 * kDim), solo(3 * kDim);
  StepNormals(StepNoise{7, batched.data(), 5, kDim}, 41, 3, together.data());
  StepNormals(StepNoise{7, alone.data(), 3, kDim}, 41, 3, solo.data());
  for (int64_t i = 0; i < 3 * kDim; ++i) EXPECT_EQ(together[i], solo[i]) << i;
  for (int64_t i = 0; i < 2 * kDim; ++i) EXPECT_EQ(together[3 * kDim + i], solo[i]) << i;
  // A narrower state draws the leading components of a wider one.
  std::vector<double> narrow(3 * 3);
  StepNormals(StepNoise{7, alone.data(), 3, 3}, 41, 3, narrow.data());
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t d = 0; d < 3; ++d) EXPECT_EQ(narrow[r * 3 + d], solo[r * kDim + d]);
  }
}

}  // namespace
}  // namespace hybrid::solvers
