// Forecast scores and the mixture predictive distribution, checked against
// their definitions: CRPS against a numerical integral of (F(x) − 1{x ≥ y})²,
// mixture quantiles against the CDF and against Monte Carlo, split conformal
// against the coverage it promises.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "solvers/uncertainty/forecast_metrics.h"
#include "solvers/uncertainty/gaussian_mixture.h"

namespace hybrid::solvers {
namespace {

at::Tensor Scalar(double v) { return at::full({1}, v, at::kDouble); }

// ∫ (F(x) − 1{x ≥ y})² dx by the trapezoid rule on [y − 40, y] and [y, y + 40]
// (split at the jump so that both integrands are smooth: error O(h²)).
double CrpsByIntegral(const std::function<double(double)>& cdf, double y) {
  const int n = 200000;
  const double h = 40.0 / n;
  double sum = 0.0;
  for (int i = 0; i <= n; ++i) {
    const double weight = (i == 0 || i == n) ? 0.5 : 1.0;
    const double below = cdf(y - i * h);
    const double above = 1.0 - cdf(y + i * h);
    sum += weight * (below * below + above * above);
  }
  return sum * h;
}

double NormalCdf(double x, double mu, double sigma) { return 0.5 * std::erfc(-(x - mu) / (sigma * std::sqrt(2.0))); }

TEST(ForecastMetrics, GaussianCrpsEqualsTheIntegralDefinition) {
  for (auto [mu, sigma, y] : {std::tuple{0.0, 1.0, 0.3}, std::tuple{2.0, 0.5, -1.0}, std::tuple{-3.0, 4.0, 5.0}}) {
    const double closed = CrpsGaussian(Scalar(mu), Scalar(sigma), Scalar(y));
    const double numeric = CrpsByIntegral([&](double x) { return NormalCdf(x, mu, sigma); }, y);
    EXPECT_NEAR(closed, numeric, 1e-6 * (1 + numeric)) << mu << " " << sigma << " " << y;
  }
}

TEST(ForecastMetrics, MixtureCrpsEqualsTheIntegralAndReducesToGaussian) {
  const at::Tensor means = at::tensor({-1.0, 0.5, 2.0}, at::kDouble).view({3, 1});
  const at::Tensor stds = at::tensor({0.3, 1.0, 0.7}, at::kDouble).view({3, 1});
  const double y = 0.8;
  const double numeric = CrpsByIntegral(
      [&](double x) { return (NormalCdf(x, -1.0, 0.3) + NormalCdf(x, 0.5, 1.0) + NormalCdf(x, 2.0, 0.7)) / 3.0; }, y);
  EXPECT_NEAR(CrpsGaussianMixture(means, stds, Scalar(y)), numeric, 1e-6);
  EXPECT_NEAR(CrpsGaussianMixture(Scalar(1.0).view({1, 1}), Scalar(2.0).view({1, 1}), Scalar(0.0)),
              CrpsGaussian(Scalar(1.0), Scalar(2.0), Scalar(0.0)), 1e-12);
}

TEST(ForecastMetrics, EnsembleCrpsIsThatOfTheEmpiricalDistribution) {
  // Two members {0, 2}, y = 0.5: F = 0 below 0, ½ on [0, 2), 1 above:
  // ∫₀^0.5 ¼ + ∫_0.5^2 ¼ = 0.5.
  const at::Tensor members = at::tensor({0.0, 2.0}, at::kDouble).view({2, 1});
  EXPECT_NEAR(CrpsEnsemble(members, Scalar(0.5)), 0.5, 1e-12);
  // Many draws from N(0, 1) approach the Gaussian closed form.
  at::Generator gen = at::detail::createCPUGenerator(5);
  const at::Tensor draws = at::randn({4000, 1}, gen, at::kDouble);
  EXPECT_NEAR(CrpsEnsemble(draws, Scalar(0.4)), CrpsGaussian(Scalar(0.0), Scalar(1.0), Scalar(0.4)), 0.01);
}

TEST(ForecastMetrics, PointScoresNllIntervalsAndParameters) {
  const at::Tensor y = at::tensor({1.0, 2.0, 3.0, 4.0}, at::kDouble);
  EXPECT_DOUBLE_EQ(Rmse(y + 2.0, y), 2.0);
  EXPECT_DOUBLE_EQ(Mae(y - 0.5, y), 0.5);
  EXPECT_DOUBLE_EQ(RSquared(y, y), 1.0);
  EXPECT_DOUBLE_EQ(RSquared(at::full_like(y, 2.5), y), 0.0);
  EXPECT_NEAR(GaussianNll(y, at::ones_like(y), y), 0.5 * std::log(2 * M_PI), 1e-12);
  EXPECT_NEAR(GaussianNll(y + 1.0, at::full_like(y, 2.0), y), 0.5 * std::log(2 * M_PI * 4) + 1.0 / 8.0, 1e-12);
  EXPECT_DOUBLE_EQ(Picp(y - 0.5, y + 0.5, at::tensor({1.2, 2.7, 3.0, 5.0}, at::kDouble)), 0.5);
  EXPECT_DOUBLE_EQ(MeanWidth(y - 0.5, y + 0.25), 0.75);
  EXPECT_NEAR(RelativeParameterError({3.0, 4.4}, {3.0, 4.0}), 0.4 / 5.0, 1e-12);
}

TEST(ForecastMetrics, QuantileCalibrationErrorOfUniformAndDegeneratePits) {
  const at::Tensor uniform = (at::arange(10000, at::kDouble) + 0.5) / 10000.0;
  EXPECT_LT(QuantileCalibrationError(uniform, {0.1, 0.25, 0.5, 0.75, 0.9}), 1e-4);
  // Every PIT at 0.5 (intervals far too wide): |0−q| below ½, |1−q| above.
  EXPECT_NEAR(QuantileCalibrationError(at::full({100}, 0.5, at::kDouble), {0.1, 0.9}), 0.1, 1e-12);
}

TEST(GaussianMixture, QuantilesInvertTheCdfAndMatchMonteCarlo) {
  const at::Tensor means = at::tensor({-2.0, 1.0, 1.5}, at::kDouble).view({3, 1});
  const at::Tensor stds = at::tensor({0.5, 1.0, 0.2}, at::kDouble).view({3, 1});
  const GaussianMixture p{means, stds};
  at::Generator gen = at::detail::createCPUGenerator(9);
  const int64_t n = 300000;
  const at::Tensor component = at::randint(3, {n}, gen, at::kLong);
  const at::Tensor draws =
      means.view(-1).index_select(0, component) + stds.view(-1).index_select(0, component) * at::randn({n}, gen,
                                                                                                       at::kDouble);
  const at::Tensor sorted = std::get<0>(draws.sort());
  for (double q : {0.05, 0.25, 0.5, 0.9, 0.975}) {
    const at::Tensor quantile = p.Quantile(q);
    EXPECT_NEAR(p.Cdf(quantile).item<double>(), q, 1e-10) << q;
    const double sample = sorted[static_cast<int64_t>(q * n)].item<double>();
    EXPECT_NEAR(quantile.item<double>(), sample, 0.02) << q;
  }
  EXPECT_NEAR(p.Mean().item<double>(), draws.mean().item<double>(), 0.01);
  EXPECT_NEAR(p.Std().item<double>(), draws.std().item<double>(), 0.01);
  // One component: the normal quantile μ + σ·Φ⁻¹(0.95).
  const GaussianMixture one{Scalar(3.0).view({1, 1}), Scalar(2.0).view({1, 1})};
  EXPECT_NEAR(one.Quantile(0.95).item<double>(), 3.0 + 2.0 * 1.6448536269514722, 1e-9);
}

TEST(SplitConformal, RankAndTheCoverageItPromises) {
  const at::Tensor scores = at::arange(1, 20, at::kDouble);  // 1 … 19, n = 19
  EXPECT_DOUBLE_EQ(SplitConformalScale(scores, 0.9), 18.0);  // ⌈20·0.9⌉ = 18th smallest
  EXPECT_TRUE(std::isinf(SplitConformalScale(at::arange(1, 5, at::kDouble), 0.9)));  // ⌈5·0.9⌉ = 5 > 4
  // A model that claims σ = 1 where the noise has σ = 2: the raw 90% interval
  // covers ~59%; rescaled by the conformal factor from 2000 held-out points it
  // covers ~90% of fresh ones.
  at::Generator gen = at::detail::createCPUGenerator(21);
  const at::Tensor held_out = 2.0 * at::randn({2000}, gen, at::kDouble);
  const at::Tensor fresh = 2.0 * at::randn({20000}, gen, at::kDouble);
  const double z = 1.6448536269514722;
  EXPECT_LT(Picp(at::full_like(fresh, -z), at::full_like(fresh, z), fresh), 0.65);
  const double scale = SplitConformalScale(held_out.abs(), 0.9);
  const double coverage = Picp(at::full_like(fresh, -scale), at::full_like(fresh, scale), fresh);
  EXPECT_GT(coverage, 0.88);
  EXPECT_LT(coverage, 0.92);
}

}  // namespace
}  // namespace hybrid::solvers
