// Localisation on a grid against the mathematics of its parts: the
// Gaspari–Cohn function's published values and smoothness, and its being a
// correlation function (the matrix of ρ(|i − j|) on a line is positive
// semi-definite, Gaspari & Cohn 1999 section 4); distances on rings and tori;
// DAPPER's radius convention (ρ(radius) ≈ exp(−½)); weights of a reading of
// several cells; refusals.
#include "solvers/assimilation/grid_localization.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace hybrid::solvers {
namespace {

TEST(GaspariCohn, PublishedValuesContinuityAndCompactSupport) {
  EXPECT_DOUBLE_EQ(GaspariCohn(0.0, 2.0), 1.0);
  EXPECT_NEAR(GaspariCohn(2.0, 2.0), 5.0 / 24.0, 1e-14);  // Both pieces meet at c…
  EXPECT_NEAR(GaspariCohn(2.0 - 1e-9, 2.0), GaspariCohn(2.0 + 1e-9, 2.0), 1e-8);
  const double h = 1e-5;  // …with the same slope there, and vanish smoothly at 2c.
  EXPECT_NEAR((GaspariCohn(2.0, 2.0) - GaspariCohn(2.0 - h, 2.0)) / h,
              (GaspariCohn(2.0 + h, 2.0) - GaspariCohn(2.0, 2.0)) / h, 1e-4);
  EXPECT_NEAR(GaspariCohn(4.0 - 1e-4, 2.0), 0.0, 1e-10);
  EXPECT_EQ(GaspariCohn(4.0, 2.0), 0.0);
  EXPECT_EQ(GaspariCohn(9.0, 2.0), 0.0);
  for (double r = 0.0; r < 4.0; r += 0.01) EXPECT_GE(GaspariCohn(r, 2.0), GaspariCohn(r + 0.01, 2.0)) << r;
}

TEST(GaspariCohn, IsACorrelationFunctionOnALine) {
  const int64_t n = 60;
  at::Tensor c = at::empty({n, n}, at::kDouble);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) c[i][j] = GaspariCohn(std::abs(static_cast<double>(i - j)), 5.3);
  }
  EXPECT_GT(at::linalg_eigvalsh(c).min().item<double>(), -1e-12);
}

std::vector<StateComponent> Ring(int64_t n) {
  std::vector<StateComponent> out;
  for (int64_t i = 0; i < n; ++i) out.push_back({"x" + std::to_string(i), "1", false, {i}});
  return out;
}

TEST(GridLocalization, DistancesOnRingsTheLineAndTori) {
  const GridLocalization ring = GridLocalization::Create({{40}, true}, Ring(40), 4.0).value();
  EXPECT_EQ(ring.Distance({0}, {39}), 1.0);
  EXPECT_EQ(ring.Distance({3}, {30}), 13.0);
  const GridLocalization line = GridLocalization::Create({{40}, false}, Ring(40), 4.0).value();
  EXPECT_EQ(line.Distance({0}, {39}), 39.0);
  const GridLocalization torus =
      GridLocalization::Create({{8, 10}, true}, GridComponents("u", "1", 8, 10), 2.0).value();
  EXPECT_DOUBLE_EQ(torus.Distance({0, 0}, {7, 9}), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(torus.Distance({1, 2}, {4, 6}), 5.0);
}

TEST(GridLocalization, WeightsFollowTheNearestCellReadAndDappersRadius) {
  std::vector<StateComponent> components = Ring(40);
  components.push_back({"offgrid", "1"});  // A state without a cell.
  const GridLocalization local = GridLocalization::Create({{40}, true}, components, 4.0).value();
  const at::Tensor rho = local.Weights({{10}, {20, 22}, {40}});
  ASSERT_EQ(rho.sizes(), (at::IntArrayRef{41, 3}));
  EXPECT_NEAR(rho[14][0].item<double>(), std::exp(-0.5), 0.03);  // At the radius.
  EXPECT_EQ(rho[10][0].item<double>(), 1.0);
  EXPECT_DOUBLE_EQ(rho[25][1].item<double>(), GaspariCohn(3.0, 1.82 * 4.0));  // Nearest: x22.
  EXPECT_EQ(rho[35][0].item<double>(), 0.0);                                  // 15 > 2 · 7.28 away.
  EXPECT_EQ(rho[40][0].item<double>(), 1.0);                                  // The off-grid state sees everything…
  EXPECT_EQ(rho.select(1, 2).min().item<double>(), 1.0);  // …and a reading of it is seen everywhere.
}

TEST(GridLocalization, RefusesWhatCannotBeLocalised) {
  auto message = [](absl::StatusOr<GridLocalization> made) { return std::string(made.status().message()); };
  EXPECT_NE(message(GridLocalization::Create({{40}, true}, Ring(40), 0.0)).find("radius"), std::string::npos);
  EXPECT_NE(message(GridLocalization::Create({{40}, true}, Ring(40), NAN)).find("radius"), std::string::npos);
  EXPECT_NE(message(GridLocalization::Create({}, Ring(3), 1.0)).find("not a field"), std::string::npos);
  EXPECT_NE(message(GridLocalization::Create({{20}, true}, Ring(40), 1.0)).find("off the grid"), std::string::npos);
  EXPECT_NE(message(GridLocalization::Create({{4, 4}, true}, Ring(4), 1.0)).find("coordinates"), std::string::npos);
}

}  // namespace
}  // namespace hybrid::solvers
