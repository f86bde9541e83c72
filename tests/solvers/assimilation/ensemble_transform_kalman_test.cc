// The ETKF analysis against the Kalman filter: for a linear observable the
// analysis ensemble's mean and sample covariance must be exactly the Kalman
// update of the background ensemble's mean and (inflated) sample covariance;
// a partial observation moves the observed component and its correlates and
// leaves an independent one nearly alone; the local analyses of the LETKF are
// each a Kalman update with the localised noise; and bad arguments are
// refused by name.
#include "solvers/assimilation/ensemble_transform_kalman.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <string>

namespace hybrid::solvers {
namespace {

struct KalmanUpdate {
  at::Tensor mean, covariance;
};

// The textbook update with the ensemble's sample covariance as the prior.
KalmanUpdate Kalman(const at::Tensor& states, const at::Tensor& h, const at::Tensor& observed,
                    const at::Tensor& noise_std, double inflation) {
  const int64_t k = states.size(0);
  const at::Tensor mean = states.mean(0);
  const at::Tensor anomalies = (states - mean) * inflation;
  const at::Tensor prior = at::matmul(anomalies.t(), anomalies) / static_cast<double>(k - 1);
  const at::Tensor r = at::diag(noise_std.pow(2));
  const at::Tensor gain = at::matmul(at::matmul(prior, h.t()), at::inverse(at::matmul(at::matmul(h, prior), h.t()) + r));
  return {mean + at::matmul(gain, observed - at::matmul(h, mean)),
          at::matmul(at::eye(states.size(1), states.options()) - at::matmul(gain, h), prior)};
}

at::Tensor SampleCovariance(const at::Tensor& ensemble) {
  const at::Tensor anomalies = ensemble - ensemble.mean(0);
  return at::matmul(anomalies.t(), anomalies) / static_cast<double>(ensemble.size(0) - 1);
}

class EtkfAgainstKalman : public ::testing::TestWithParam<double> {};

TEST_P(EtkfAgainstKalman, LinearObservablesGiveTheKalmanMeanAndCovariance) {
  const double inflation = GetParam();
  at::Generator generator = at::detail::createCPUGenerator(7);
  const at::TensorOptions f64 = at::TensorOptions().dtype(at::kDouble);
  for (const int64_t members : {8, 30}) {  // Fewer and more members than components.
    const at::Tensor states = at::normal(0.0, 2.0, {members, 12}, generator, f64) + 3.0;
    const at::Tensor h = at::normal(0.0, 1.0, {5, 12}, generator, f64);  // 5 indirect sensors.
    const at::Tensor noise_std = at::rand({5}, generator, f64) + 0.5;
    const at::Tensor observed = at::normal(0.0, 3.0, {5}, generator, f64);
    EtkfOptions options;
    options.inflation = inflation;
    const at::Tensor analysis =
        EtkfAnalysis(states, at::matmul(states, h.t()), observed, noise_std, options).value();
    const KalmanUpdate expected = Kalman(states, h, observed, noise_std, inflation);
    EXPECT_TRUE(at::allclose(analysis.mean(0), expected.mean, 1e-10, 1e-10)) << members << " members";
    EXPECT_TRUE(at::allclose(SampleCovariance(analysis), expected.covariance, 1e-10, 1e-10)) << members;
    EXPECT_EQ(analysis.sizes(), states.sizes());
  }
}

INSTANTIATE_TEST_SUITE_P(Inflation, EtkfAgainstKalman, ::testing::Values(1.0, 1.013, 1.2));

TEST(Etkf, ARandomRotationKeepsTheKalmanMomentsAndMovesTheMembers) {
  at::Generator generator = at::detail::createCPUGenerator(11);
  const at::TensorOptions f64 = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor states = at::normal(0.0, 2.0, {10, 6}, generator, f64);
  const at::Tensor h = at::normal(0.0, 1.0, {3, 6}, generator, f64);
  const at::Tensor noise_std = at::full({3}, 0.7, f64), observed = at::normal(0.0, 2.0, {3}, generator, f64);
  EtkfOptions plain, rotated, again, other;
  rotated.rotation_seed = again.rotation_seed = 5;
  other.rotation_seed = 6;
  auto analysis = [&](const EtkfOptions& o) {
    return EtkfAnalysis(states, at::matmul(states, h.t()), observed, noise_std, o).value();
  };
  const KalmanUpdate expected = Kalman(states, h, observed, noise_std, 1.0);
  const at::Tensor r = analysis(rotated);
  EXPECT_TRUE(at::allclose(r.mean(0), expected.mean, 1e-10, 1e-10));
  EXPECT_TRUE(at::allclose(SampleCovariance(r), expected.covariance, 1e-10, 1e-10));
  EXPECT_GT((r - analysis(plain)).abs().max().item<double>(), 0.1);  // Other members, same moments.
  EXPECT_TRUE(at::equal(r, analysis(again)));                        // Reproducible from its seed…
  EXPECT_GT((r - analysis(other)).abs().max().item<double>(), 0.1);  // …and different for another.
}

TEST(Etkf, APartialObservationPullsTheObservedComponentAndItsCorrelates) {
  // Two perfectly correlated components, a third independent one; only the first is observed.
  at::Generator generator = at::detail::createCPUGenerator(3);
  const at::TensorOptions f64 = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor a = at::normal(0.0, 1.0, {200}, generator, f64);
  const at::Tensor b = at::normal(0.0, 1.0, {200}, generator, f64);
  const at::Tensor states = at::stack({a, 2 * a, b}, 1);
  const at::Tensor analysis = EtkfAnalysis(states, states.slice(1, 0, 1), at::tensor({1.5}, f64),
                                           at::tensor({0.1}, f64), EtkfOptions())
                                  .value();
  const at::Tensor shift = analysis.mean(0) - states.mean(0);
  EXPECT_GT(shift[0].item<double>(), 1.0);                                  // Towards the reading…
  EXPECT_NEAR(shift[1].item<double>(), 2 * shift[0].item<double>(), 1e-9);  // …the correlate follows…
  // …and the independent component moves only by its sample correlation.
  EXPECT_LT(std::abs(shift[2].item<double>()), 0.3);
  EXPECT_NEAR(analysis.std(0)[0].item<double>(), 0.1, 0.02);  // Spread shrinks to the sensor's.
}

// The LETKF column by column: column i's analysis is the Kalman update with
// each reading's variance divided by its weight ρ_ip (Sakov & Bertino 2011:
// R-localisation is a Kalman filter per column with R_i = R / ρ_i); a column
// that sees nothing keeps its inflated background; columns beyond ρ's rows
// get the global update; ρ of ones is the ETKF.
TEST(Letkf, EachColumnIsTheKalmanUpdateWithItsOwnNoise) {
  at::Generator generator = at::detail::createCPUGenerator(21);
  const at::TensorOptions f64 = at::TensorOptions().dtype(at::kDouble);
  const double inflation = 1.05;
  const at::Tensor states = at::normal(0.0, 2.0, {9, 7}, generator, f64) + 1.0;
  const at::Tensor h = at::normal(0.0, 1.0, {4, 7}, generator, f64);
  const at::Tensor noise_std = at::rand({4}, generator, f64) + 0.5;
  const at::Tensor observed = at::normal(0.0, 3.0, {4}, generator, f64);
  at::Tensor rho = at::rand({5, 4}, generator, f64) * 0.95 + 0.05;  // Columns 5, 6: global.
  rho[3].fill_(0.0);                                                // Sees no reading.
  rho[4].copy_(rho[1]);                                             // Shares column 1's analysis.
  for (const bool rotate : {false, true}) {
    EtkfOptions options;
    options.inflation = inflation;
    options.localization = rho;
    if (rotate) options.rotation_seed = 9;
    const at::Tensor analysis = EtkfAnalysis(states, at::matmul(states, h.t()), observed, noise_std, options).value();
    ASSERT_EQ(analysis.sizes(), states.sizes());
    const at::Tensor covariance = SampleCovariance(analysis);
    for (const int64_t i : {0, 1, 2, 4}) {
      const KalmanUpdate local = Kalman(states, h, observed, noise_std / rho[i].sqrt(), inflation);
      EXPECT_NEAR(analysis.mean(0)[i].item<double>(), local.mean[i].item<double>(), 1e-10) << i << rotate;
      EXPECT_NEAR(covariance[i][i].item<double>(), local.covariance[i][i].item<double>(), 1e-10) << i << rotate;
    }
    const at::Tensor background = states.mean(0) + (states - states.mean(0)) * inflation;
    if (!rotate) {
      EXPECT_TRUE(at::allclose(analysis.select(1, 3), background.select(1, 3), 1e-12, 1e-12));
    }
    EXPECT_NEAR(covariance[3][3].item<double>(), SampleCovariance(background)[3][3].item<double>(), 1e-10);
    // Columns 1 and 4 share a transform: their joint moments are the Kalman update's too.
    const KalmanUpdate shared = Kalman(states, h, observed, noise_std / rho[1].sqrt(), inflation);
    EXPECT_NEAR(covariance[1][4].item<double>(), shared.covariance[1][4].item<double>(), 1e-10);
    const KalmanUpdate global = Kalman(states, h, observed, noise_std, inflation);
    EXPECT_TRUE(at::allclose(analysis.mean(0).narrow(0, 5, 2), global.mean.narrow(0, 5, 2), 1e-10, 1e-10));
    EXPECT_TRUE(at::allclose(covariance.narrow(0, 5, 2).narrow(1, 5, 2),
                             global.covariance.narrow(0, 5, 2).narrow(1, 5, 2), 1e-10, 1e-10));
  }
  EtkfOptions ones, none;
  ones.localization = at::ones({7, 4}, f64);
  const at::Tensor predicted = at::matmul(states, h.t());
  EXPECT_TRUE(at::allclose(EtkfAnalysis(states, predicted, observed, noise_std, ones).value(),
                           EtkfAnalysis(states, predicted, observed, noise_std, none).value(), 1e-12, 1e-12));
}

TEST(Etkf, BadArgumentsAreNamed) {
  const at::TensorOptions f64 = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor states = at::ones({4, 3}, f64), predicted = at::ones({4, 2}, f64);
  const at::Tensor observed = at::zeros({2}, f64), noise = at::ones({2}, f64);
  auto message = [&](const at::Tensor& x, const at::Tensor& y, const at::Tensor& o, const at::Tensor& n,
                     double inflation = 1.0) {
    EtkfOptions options;
    options.inflation = inflation;
    return std::string(EtkfAnalysis(x, y, o, n, options).status().message());
  };
  EXPECT_NE(message(at::ones({1, 3}, f64), predicted.slice(0, 0, 1), observed, noise).find("K ≥ 2"), std::string::npos);
  EXPECT_NE(message(states, at::ones({3, 2}, f64), observed, noise).find("predicted"), std::string::npos);
  EXPECT_NE(message(states, predicted, at::zeros({3}, f64), noise).find("observed"), std::string::npos);
  EXPECT_NE(message(states, predicted, observed, at::zeros({2}, f64)).find("noise_std must be > 0"), std::string::npos);
  EXPECT_NE(message(states, predicted, observed, noise, 0.9).find("inflation"), std::string::npos);
  EXPECT_NE(message(states, predicted, at::full({2}, NAN, f64), noise).find("observed is not finite"),
            std::string::npos);
  EtkfOptions local;
  local.localization = at::ones({4, 2}, f64);  // More rows than columns.
  EXPECT_NE(
      std::string(EtkfAnalysis(states, predicted, observed, noise, local).status().message()).find("localization"),
      std::string::npos);
  local.localization = at::full({3, 2}, 1.5, f64);
  EXPECT_NE(std::string(EtkfAnalysis(states, predicted, observed, noise, local).status().message()).find("[0, 1]"),
            std::string::npos);
}

}  // namespace
}  // namespace hybrid::solvers
