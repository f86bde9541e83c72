// The forecast error model against mathematics: its guard thresholds are the
// published F quantiles (SciPy's values), its model-error rate recovers the
// rate of synthetic innovations drawn from a known variance — also after a
// burn-in of misfits 10⁴ times larger — its conformal scale brings a
// heavy-tailed stream's coverage to the level, glitches between honest
// readings teach it nothing, a model that lost track widens q in bounded
// steps until its data pass, and its state round-trips.
#include "solvers/uncertainty/forecast_error_model.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "solvers/uncertainty/ensemble_stats.h"

namespace hybrid::solvers {
namespace {

constexpr int64_t kDim = 3;

ForecastErrorModel Make(ForecastErrorOptions options = {}) { return ForecastErrorModel::Create(options, kDim).value(); }

// One observation of `windows` windows at `lead`, innovations N(0, v + q·lead + R)
// times `scale` (Student-t with 3 degrees of freedom, unit variance, when `heavy`).
ScoredForecast Draw(at::Generator& gen, double q, double r, double lead, int64_t windows, double scale = 1.0,
                    bool heavy = false) {
  ScoredForecast s;
  s.windows = windows;
  s.samples = 40;
  s.sample_variance = 0.01 + 0.02 * at::rand({windows, kDim}, gen, at::kDouble);
  s.lead = at::full({windows}, lead, at::kDouble);
  s.mask = at::ones({windows, kDim}, at::kDouble);
  const at::Tensor sd = (s.sample_variance + q * lead + r).sqrt();
  at::Tensor z = at::randn({windows, kDim}, gen, at::kDouble);
  if (heavy) {  // t₃ = N / √(χ²₃ / 3), variance 3: scaled to 1.
    const at::Tensor chi2 = at::randn({3, windows, kDim}, gen, at::kDouble).pow(2).sum(0);
    z = z / (chi2 / 3.0).sqrt() / std::sqrt(3.0);
  }
  s.innovation = scale * sd * z;
  return s;
}

TEST(ForecastErrorModel, ThresholdsAreTheFQuantiles) {
  const ForecastErrorModel fresh = Make();
  // 3·F⁻¹_{3,2}(1 − 1e-6) (scipy.stats.f.ppf): a fresh model, ν = 2.
  EXPECT_NEAR(fresh.Threshold(3, 40), 2999997.499913594, 1e-3);
  ForecastErrorModel seasoned = Make();
  at::Generator gen = at::detail::createCPUGenerator(1);
  for (int i = 0; i < 200; ++i) seasoned.Learn(Draw(gen, 0.1, 0.01, 0.1, 8));
  // ν is capped by the 40 samples behind the sample variance: F(3, 39); without them, ν = 2 + 1000: F(3, 1002).
  EXPECT_NEAR(seasoned.Threshold(3, 40), 45.827808103966994, 1e-6);
  EXPECT_NEAR(seasoned.Threshold(3, 1), 31.1231786615405, 1e-6);
  EXPECT_TRUE(std::isinf(seasoned.Threshold(0, 40)));
}

TEST(ForecastErrorModel, RejectsBadOptionsByField) {
  EXPECT_NE(ForecastErrorModel::Create({.observation_noise_std = {0.1, 0.2}}, kDim)
                .status()
                .message()
                .find("uncertainty.observation_noise_std"),
            absl::string_view::npos);
  EXPECT_NE(ForecastErrorModel::Create({.observation_noise_std = {-1.0}}, kDim)
                .status()
                .message()
                .find("observation_noise_std"),
            absl::string_view::npos);
  EXPECT_NE(ForecastErrorModel::Create({.memory = 0.0}, kDim).status().message().find("model_error_memory"),
            absl::string_view::npos);
  EXPECT_TRUE(ForecastErrorModel::Create({.observation_noise_std = {0.1, 0.2, 0.3}}, kDim).ok());
}

TEST(ForecastErrorModel, RecoversTheModelErrorRateOfItsInnovations) {
  const double q = 0.3, noise = 0.2;
  ForecastErrorModel errors = Make({.observation_noise_std = {noise}, .memory = 0.002});
  EXPECT_NEAR(errors.model_error_rate()[0].item<double>(), 1.0, 1e-12);  // The prior.
  at::Generator gen = at::detail::createCPUGenerator(2);
  for (int i = 0; i < 3000; ++i) errors.Learn(Draw(gen, q, noise * noise, i % 2 ? 0.1 : 0.25, 8));
  for (int64_t d = 0; d < kDim; ++d) EXPECT_NEAR(errors.model_error_rate()[d].item<double>(), q, 0.05 * q) << d;
}

TEST(ForecastErrorModel, ABurnInOfHugeMisfitsDoesNotLingerInTheRate) {
  // A model far from calibrated misfits by 100× the std of its later windows;
  // a plain running mean would keep q near its burn-in value for ~1000 observations.
  const double q = 0.3;
  ForecastErrorModel errors = Make({.memory = 0.01});
  at::Generator gen = at::detail::createCPUGenerator(3);
  for (int i = 0; i < 30; ++i) errors.Learn(Draw(gen, q, 0.0, 0.1, 8, /*scale=*/100.0));
  for (int i = 0; i < 300; ++i) errors.Learn(Draw(gen, q, 0.0, 0.1, 8));
  for (int64_t d = 0; d < kDim; ++d) EXPECT_NEAR(errors.model_error_rate()[d].item<double>(), q, 0.25 * q) << d;
}

TEST(ForecastErrorModel, TheConformalScaleBringsAHeavyTailedStreamToItsCoverage) {
  // Student-t innovations with the right variance: a Gaussian interval covers
  // them ~94%, not 90%; the adaptive conformal scale of their lead corrects it.
  ForecastErrorModel errors = Make({.memory = 0.002, .coverage_level = 0.9, .conformal_gain = 0.005});
  at::Generator gen = at::detail::createCPUGenerator(4);
  for (int i = 0; i < 2000; ++i) errors.Learn(Draw(gen, 0.3, 0.0, 0.1, 8, 1.0, /*heavy=*/true));
  double covered = 0.0;
  const int tests = 2000;
  for (int i = 0; i < tests; ++i) covered += errors.Coverage(Draw(gen, 0.3, 0.0, 0.1, 8, 1.0, true));
  EXPECT_NEAR(covered / tests, 0.9, 0.015);
  EXPECT_LT(errors.ConformalScale(0.1), 1.0) << "t₃ is narrower than its Gaussian in the middle";
  EXPECT_EQ(errors.ConformalScale(10.0), 1.0) << "no scored data at that lead: no correction";
}

TEST(ForecastErrorModel, TheInnovationTestNamesTheWindowThatFails) {
  ForecastErrorModel errors = Make({.observation_noise_std = {0.1}});
  at::Generator gen = at::detail::createCPUGenerator(5);
  for (int i = 0; i < 300; ++i) errors.Learn(Draw(gen, 0.05, 0.01, 0.1, 8));
  ScoredForecast honest = Draw(gen, 0.05, 0.01, 0.1, 8);
  EXPECT_TRUE(errors.CheckWindows(honest, "before the update").ok());
  ScoredForecast poisoned = honest;
  poisoned.innovation = honest.innovation.clone();
  poisoned.innovation[5][2] = 1e6;
  const absl::Status s = errors.CheckWindows(poisoned, "before the update");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("window 5 of this observation before the update"), absl::string_view::npos) << s;
  ScoredForecast unobserved = poisoned;
  unobserved.mask = poisoned.mask.clone();
  unobserved.mask[5][2] = 0.0;  // The value that was off is not observed.
  EXPECT_TRUE(errors.CheckWindows(unobserved, "before the update").ok());
  EXPECT_TRUE(Make({.guard_false_alarm = -1}).CheckWindows(poisoned, "").ok()) << "the test switched off";
}

// Feeds one observation as the calibrator does: the test, then Learn or LearnRefused; true when accepted.
bool Feed(ForecastErrorModel& errors, const ScoredForecast& s) {
  if (errors.CheckWindows(s, "before the update").ok()) {
    errors.Learn(s);
    return true;
  }
  errors.LearnRefused(s);
  return false;
}

TEST(ForecastErrorModel, AGlitchingSensorBetweenHonestReadingsTeachesNothing) {
  const double q = 0.05;
  ForecastErrorModel errors = Make({.observation_noise_std = {0.1}});
  at::Generator gen = at::detail::createCPUGenerator(7);
  for (int i = 0; i < 500; ++i) errors.Learn(Draw(gen, q, 0.01, 0.1, 8));
  ForecastErrorModel honest_only = errors;
  for (int i = 0; i < 300; ++i) {
    ScoredForecast glitch = Draw(gen, q, 0.01, 0.1, 8);
    glitch.innovation[i % 8][i % 3] = 1e6;
    ASSERT_FALSE(Feed(errors, glitch)) << "glitch " << i << " accepted";
    const ScoredForecast honest = Draw(gen, q, 0.01, 0.1, 8);
    ASSERT_TRUE(Feed(errors, honest)) << "honest observation " << i << " refused";
    honest_only.Learn(honest);
  }
  EXPECT_NEAR(errors.refused_share(), 0.5, 0.05);
  EXPECT_TRUE(at::equal(errors.model_error_rate(), honest_only.model_error_rate()));
}

TEST(ForecastErrorModel, AModelThatLostTrackWidensItsRateInBoundedStepsUntilTheDataPass) {
  // Calibrated at q = 0.05, then its forecasts start missing as a rate of 20
  // would (its physics changed): at first every observation is refused.
  ForecastErrorModel errors = Make({.observation_noise_std = {0.1}});
  at::Generator gen = at::detail::createCPUGenerator(8);
  for (int i = 0; i < 500; ++i) errors.Learn(Draw(gen, 0.05, 0.01, 0.1, 8));
  const at::Tensor calibrated = errors.model_error_rate();
  int refused = 0;
  for (; refused < 31; ++refused) {
    const ScoredForecast off = Draw(gen, 20.0, 0.01, 0.1, 8);
    ASSERT_FALSE(errors.CheckWindows(off, "before the update").ok());
    ASSERT_FALSE(errors.LearnRefused(off)) << "learned from refusal " << refused << ", before losing track";
  }
  EXPECT_TRUE(at::equal(errors.model_error_rate(), calibrated)) << "the first 31 refusals taught nothing";

  // Lost track: a refusal teaches q as a window at the test's limit would,
  // whatever its size — a reading of 1e6 no more than one just past the limit.
  ScoredForecast off = Draw(gen, 20.0, 0.01, 0.1, 8);
  ScoredForecast wild = off;
  wild.innovation = off.innovation * 1e6;
  ForecastErrorModel twin = errors;
  ASSERT_TRUE(errors.LearnRefused(off));
  ASSERT_TRUE(twin.LearnRefused(wild));
  EXPECT_TRUE(at::allclose(errors.model_error_rate(), twin.model_error_rate(), 1e-9, 0.0));
  const at::Tensor step = errors.model_error_rate() - calibrated;
  EXPECT_TRUE((step > 0).all().item<bool>()) << step;
  EXPECT_TRUE((step < 10.0 * calibrated).all().item<bool>()) << "one refusal moved q by " << step;

  // A diverged sample (an infinite innovation) is refused and counted, never learned from.
  ScoredForecast diverged = Draw(gen, 20.0, 0.01, 0.1, 8);
  diverged.innovation[3][1] = std::numeric_limits<double>::infinity();
  const at::Tensor before_diverged = errors.model_error_rate();
  EXPECT_FALSE(errors.LearnRefused(diverged));
  EXPECT_TRUE(at::equal(errors.model_error_rate(), before_diverged));

  // Until the data pass again, and q settles at what they miss.
  int accepted_recently = 0;
  for (int i = 0; i < 3000; ++i) {
    const bool accepted = Feed(errors, Draw(gen, 20.0, 0.01, 0.1, 8));
    if (i >= 2900) accepted_recently += accepted;
  }
  EXPECT_GE(accepted_recently, 99);
  EXPECT_LT(errors.refused_share(), 0.05);
  for (int64_t d = 0; d < kDim; ++d) EXPECT_NEAR(errors.model_error_rate()[d].item<double>(), 20.0, 0.25 * 20.0) << d;
}

TEST(ForecastErrorModel, StateRoundTrips) {
  ForecastErrorModel errors = Make({.observation_noise_std = {0.1}});
  at::Generator gen = at::detail::createCPUGenerator(6);
  for (int i = 0; i < 50; ++i) errors.Learn(Draw(gen, 0.05, 0.01, i % 3 ? 0.1 : 0.4, 8));
  ScoredForecast refused = Draw(gen, 0.05, 0.01, 0.1, 8);
  refused.innovation[0][0] = 1e6;
  errors.LearnRefused(refused);
  ForecastErrorModel restored = Make({.observation_noise_std = {0.1}});
  ASSERT_TRUE(restored.Restore(errors.state()).ok());
  EXPECT_TRUE(at::equal(restored.model_error_rate(), errors.model_error_rate()));
  EXPECT_EQ(restored.ConformalScale(0.4), errors.ConformalScale(0.4));
  EXPECT_EQ(restored.refused_share(), errors.refused_share());
  const ScoredForecast next = Draw(gen, 0.05, 0.01, 0.1, 8);
  errors.Learn(next);
  restored.Learn(next);
  EXPECT_TRUE(at::equal(restored.model_error_rate(), errors.model_error_rate())) << "and continues identically";
  ForecastErrorModel wider = ForecastErrorModel::Create({}, 5).value();
  EXPECT_EQ(wider.Restore(errors.state()).code(), absl::StatusCode::kInvalidArgument);
  ForecastErrorModel::State bad = errors.state();
  bad.refused_share = std::nan("");
  EXPECT_EQ(restored.Restore(bad).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hybrid::solvers
