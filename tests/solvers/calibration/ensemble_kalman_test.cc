// Ensemble Kalman inversion: one step on a linear-Gaussian problem matches the
// exact Kalman posterior mean; streamed through the online calibrator it
// recovers Lorenz-96's forcing F from noisy observations of the black-box step.
#include "solvers/calibration/ensemble_kalman.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "solvers/black_box/native_lorenz_steps.h"
#include "solvers/calibration/online_calibrator.h"

namespace hybrid::solvers {
namespace {

TEST(EnsembleKalmanUpdate, LinearGaussianStepMatchesTheKalmanPosterior) {
  // θ ~ N(μ, I₂), y = Aθ + ε with ε ~ N(0, σ²I₃). Posterior mean:
  // μ + Aᵀ(AAᵀ + σ²I)⁻¹(y − Aμ). A large ensemble reproduces it.
  const int64_t m = 4000;
  at::Generator gen = at::detail::createCPUGenerator(3);
  const at::Tensor mu = at::tensor({1.0, -2.0}, at::kDouble);
  const at::Tensor a = at::tensor({1.0, 0.5, -0.3, 2.0, 0.7, 0.7}, at::kDouble).view({3, 2});
  const at::Tensor sigma = at::full({3}, 0.5, at::kDouble);
  const at::Tensor y = at::tensor({0.4, 1.0, -3.0}, at::kDouble);
  const at::Tensor theta = mu + at::randn({m, 2}, gen, at::kDouble);
  const at::Tensor prediction = at::matmul(theta, a.t());
  const at::Tensor updated = EnsembleKalmanUpdate(theta, prediction, y, sigma, 1.0, gen);

  const at::Tensor s = at::matmul(a, a.t()) + 0.25 * at::eye(3, at::kDouble);
  const at::Tensor posterior =
      mu + at::matmul(a.t(), at::linalg_solve(s, (y - at::matmul(a, mu)).unsqueeze(1))).squeeze(1);
  EXPECT_TRUE(at::allclose(updated.mean(0), posterior, 0.0, 0.06)) << updated.mean(0) << posterior;
  // Posterior covariance I − Aᵀ S⁻¹ A: the spread shrinks accordingly.
  const at::Tensor covariance = at::eye(2, at::kDouble) - at::matmul(a.t(), at::linalg_solve(s, a));
  const at::Tensor centred = updated - updated.mean(0);
  EXPECT_TRUE(at::allclose(at::matmul(centred.t(), centred) / (m - 1), covariance, 0.0, 0.06));
}

TEST(EnsembleKalmanUpdate, RecoversLorenz96ForcingFromStreamedNoisyWindows) {
  const int64_t n = 40;
  const double h = 0.05, noise = 0.1, truth_f = 8.0;
  std::shared_ptr<const BlackBoxStep> truth = MakeLorenz96Step(n);
  HybridModelSpec spec;
  spec.physics = "lorenz96_step";
  spec.physics_options.members = 24;
  spec.physics_options.initial = {{"F", 6.0}};
  spec.physics_options.trainable = {"F"};
  spec.physics_options.member_jitter = 0.1;
  spec.physics_options.seed = 8;
  std::shared_ptr<HybridModel> model = HybridModel::Create(spec).value();
  CalibratorOptions options;
  options.gradient.method = GradientMethod::kEgaStatic;  // No network: only the Kalman step acts.
  options.theta_ensemble_kalman = true;
  options.kalman_observation_std = noise;
  options.errors.observation_noise_std = {noise};  // What the sensors' data sheet says.
  options.seed = 9;
  auto calibrator = OnlineCalibrator::Create(model, options).value();

  // A true trajectory, observed with noise every 2 steps: windows (y_t, y_{t+2h}).
  std::vector<double> x(n), next(n);
  for (int64_t i = 0; i < n; ++i) x[i] = truth_f + (i == 0 ? 0.01 : 0.0);
  const double theta = truth_f;
  ASSERT_TRUE(truth->Advance(x.data(), &theta, h, 400, next.data()).ok());  // Onto the attractor.
  x = next;
  at::Generator gen = at::detail::createCPUGenerator(10);
  auto observe = [&](const std::vector<double>& state) {
    return at::tensor(state, at::kDouble) + noise * at::randn({n}, gen, at::kDouble);
  };
  at::Tensor observed = observe(x);
  for (int i = 0; i < 150; ++i) {
    ASSERT_TRUE(truth->Advance(x.data(), &theta, h, 2, next.data()).ok());
    x = next;
    const at::Tensor end = observe(x);
    WindowBatch batch;
    batch.start = observed.unsqueeze(0);
    batch.end = end.unsqueeze(0);
    batch.step = h;
    batch.steps = 2;
    absl::StatusOr<CalibrationStep> step = calibrator->Update(batch);
    ASSERT_TRUE(step.ok()) << step.status() << " at window " << i;
    observed = end;
  }
  const double f = model->physics().Value(0).mean().item<double>();
  std::printf("F estimate %.4f (truth %.1f), member spread %.4f\n", f, truth_f,
              model->physics().Value(0).std().item<double>());
  EXPECT_NEAR(f, truth_f, 0.05 * truth_f);
}

}  // namespace
}  // namespace hybrid::solvers
