// Ensemble summaries: Gaussian central intervals that widen with the spread of
// the members and with the aleatoric variance, at the right quantiles.
#include "solvers/uncertainty/ensemble_stats.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

namespace hybrid::solvers {
namespace {

TEST(EnsembleStats, CentralZMatchesNormalQuantiles) {
  EXPECT_NEAR(CentralZ(0.9), 1.6448536269514722, 1e-12);
  EXPECT_NEAR(CentralZ(0.5), 0.6744897501960817, 1e-12);
  EXPECT_NEAR(CentralZ(0.99), 2.5758293035489004, 1e-12);
}

TEST(EnsembleStats, IntervalWidthGrowsWithEnsembleSpread) {
  at::Generator gen = at::detail::createCPUGenerator(11);
  const at::Tensor noise = at::randn({16, 4, 3}, gen, at::kDouble);
  double previous = 0.0;
  for (double spread : {0.1, 0.5, 2.0, 8.0}) {
    const EnsembleSummary s = SummarizeEnsemble(5.0 + spread * noise, at::Tensor(), {0.9});
    const double width = (s.upper[0] - s.lower[0]).mean().item<double>();
    EXPECT_GT(width, previous) << "spread " << spread;
    // Width = 2·z·std, and the sample std scales exactly with the spread.
    EXPECT_NEAR(width, 2 * CentralZ(0.9) * spread * noise.std(0).mean().item<double>(), 1e-9 * (1 + width));
    previous = width;
  }
}

TEST(EnsembleStats, AddsAleatoricVarianceAndNestsLevels) {
  const at::Tensor members = at::tensor({1.0, 3.0}, at::kDouble).view({2, 1});  // var = 2 (unbiased)
  const EnsembleSummary s = SummarizeEnsemble(members, at::full({1}, 7.0, at::kDouble), {0.5, 0.9});
  EXPECT_DOUBLE_EQ(s.mean.item<double>(), 2.0);
  EXPECT_NEAR(s.std.item<double>(), 3.0, 1e-12);  // sqrt(2 + 7)
  EXPECT_LT(s.lower[1].item<double>(), s.lower[0].item<double>());
  EXPECT_GT(s.upper[1].item<double>(), s.upper[0].item<double>());
}

TEST(EnsembleStats, SingleMemberUsesOnlyTheAleatoricPart) {
  const EnsembleSummary s = SummarizeEnsemble(at::zeros({1, 2}, at::kDouble), at::full({2}, 4.0, at::kDouble), {0.9});
  EXPECT_NEAR(s.std[0].item<double>(), 2.0, 1e-12);
}

TEST(EnsembleStats, IntervalsCoverTheirLevelForGaussianData) {
  // Many members drawn from N(0, 1): fresh draws land inside the ℓ interval ≈ ℓ of the time.
  at::Generator gen = at::detail::createCPUGenerator(5);
  const EnsembleSummary s = SummarizeEnsemble(at::randn({4000, 1}, gen, at::kDouble), at::Tensor(), {0.5, 0.9});
  const at::Tensor fresh = at::randn({20000, 1}, gen, at::kDouble);
  for (size_t i = 0; i < 2; ++i) {
    const double inside = ((fresh >= s.lower[i]) & (fresh <= s.upper[i])).to(at::kDouble).mean().item<double>();
    EXPECT_NEAR(inside, s.levels[i], 0.015) << "level " << s.levels[i];
  }
}

}  // namespace
}  // namespace hybrid::solvers
