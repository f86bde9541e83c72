// Forecast samples against the exact solution of a linear SDE: the
// two-compartment PK model is dx/dt = A x, so draws from x0 + σ0 ⊙ ε with the
// forcing √(h q) ξ after every step must have mean e^{Aτ} x0 and covariance
//   e^{Aτ} Σ0 e^{Aᵀτ} + ∫₀^τ e^{As} Q e^{Aᵀs} ds,
// the integral by Van Loan's block exponential (1978) — mathematics
// independent of the forecast code. Nothing random gives the plain forecast.
#include "solvers/uncertainty/perturbed_forecast.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "solvers/calibration/gradient_rollout.h"
#include "tests/solvers/linear_pk.h"

namespace hybrid::solvers {
namespace {

using testing::PkMatrix;
using testing::PkModel;

TEST(PerturbedForecast, MatchesTheLinearSdeMeanAndCovariance) {
  const std::shared_ptr<HybridModel> model = PkModel(2);
  const at::Tensor x0 = at::tensor({100.0, 20.0, 5.0, 0.0}, at::kDouble).view({1, 4});
  const at::Tensor sigma0 = at::tensor({2.0, 1.0, 0.5, 0.0}, at::kDouble);
  const at::Tensor q = at::tensor({4.0, 1.0, 0.25, 0.0}, at::kDouble);
  const double tau = 1.0;
  SolverOptions solver;
  solver.step = 0.01;
  SampleOptions options{.initial_std = sigma0, .model_error_rate = q, .per_member = 4000, .seed = 17};
  const at::Tensor samples = ForecastSamples(*model, x0, {tau}, solver, options).value();  // [S, T, B, D]
  ASSERT_EQ(samples.sizes(), (at::IntArrayRef{8000, 1, 1, 4}));
  const at::Tensor x = samples.select(1, 0).select(1, 0);  // [S, 4]

  const at::Tensor a = PkMatrix();
  const at::Tensor phi = at::linalg_matrix_exp(a * tau);
  // Van Loan: exp([[-A, Q], [0, Aᵀ]] τ) = [[·, G12], [0, G22]], ∫ = G22ᵀ G12.
  at::Tensor block = at::zeros({8, 8}, at::kDouble);
  block.slice(0, 0, 4).slice(1, 0, 4).copy_(-a);
  block.slice(0, 0, 4).slice(1, 4, 8).copy_(at::diag(q));
  block.slice(0, 4, 8).slice(1, 4, 8).copy_(a.t());
  const at::Tensor g = at::linalg_matrix_exp(block * tau);
  const at::Tensor forced = g.slice(0, 4, 8).slice(1, 4, 8).t().matmul(g.slice(0, 0, 4).slice(1, 4, 8));
  const at::Tensor covariance = phi.matmul(at::diag(sigma0.pow(2))).matmul(phi.t()) + forced;
  const at::Tensor mean = phi.matmul(x0.view({4}));

  const at::Tensor sample_mean = x.mean(0);
  const at::Tensor sample_cov = (x - sample_mean).t().matmul(x - sample_mean) / (x.size(0) - 1);
  const double n = static_cast<double>(x.size(0));
  for (int64_t i = 0; i < 4; ++i) {
    const double var = covariance[i][i].item<double>();
    // Mean within 4 standard errors; variance within 4 standard errors (√(2/n)) plus 1% for the step h.
    EXPECT_NEAR(sample_mean[i].item<double>(), mean[i].item<double>(), 4.0 * std::sqrt(var / n) + 1e-9) << i;
    EXPECT_NEAR(sample_cov[i][i].item<double>(), var, var * (4.0 * std::sqrt(2.0 / n) + 0.01) + 1e-12) << i;
  }
  // The eliminated amount (no noise of its own) inherits variance through CL/V1 only: a covariance check.
  EXPECT_GT(covariance[3][3].item<double>(), 0.0);
  EXPECT_NEAR(sample_cov[1][3].item<double>(), covariance[1][3].item<double>(),
              4.0 * std::sqrt(covariance[1][1].item<double>() * covariance[3][3].item<double>() / n) +
                  0.02 * std::abs(covariance[1][3].item<double>()));
}

TEST(PerturbedForecast, AmountsStayNonNegative) {
  // An empty depot and an uncertain start: without the bound, half the draws would start below 0 mg.
  const std::shared_ptr<HybridModel> model = PkModel(2);
  const at::Tensor x0 = at::tensor({0.0, 20.0, 5.0, 0.0}, at::kDouble).view({1, 4});
  SolverOptions solver;
  solver.step = 0.01;
  SampleOptions options{.initial_std = at::tensor({1.0, 1.0, 1.0, 1.0}, at::kDouble),
                        .model_error_rate = at::tensor({0.0, 0.0, 0.0, 1.0}, at::kDouble),
                        .per_member = 2000,
                        .seed = 3};
  const at::Tensor samples = ForecastSamples(*model, x0, {0.1, 1.0}, solver, options).value();
  EXPECT_GE(samples.min().item<double>(), 0.0);
  const at::Tensor depot = samples.select(3, 0);
  // The draws below 0 are at the bound (about half of them), not a shifted cloud.
  EXPECT_NEAR((depot == 0.0).to(at::kDouble).mean().item<double>(), 0.5, 0.05);
  EXPECT_GT(depot.max().item<double>(), 1.0);
  // Components not marked keep their sign.
  const at::Tensor x = at::tensor({-1.0, 2.0}, at::kDouble);
  EXPECT_TRUE(at::equal(ClampNonNegative({{"a", "1"}, {"b", "1"}}, x), x));
  EXPECT_TRUE(at::equal(ClampNonNegative({{"a", "1", true}, {"b", "1"}}, x), at::tensor({0.0, 2.0}, at::kDouble)));
}

TEST(PerturbedForecast, NothingRandomIsThePlainForecastBitForBit) {
  const std::shared_ptr<HybridModel> model = PkModel(3);
  const at::Tensor x0 = at::tensor({100.0, 20.0, 5.0, 0.0, 50.0, 0.0, 0.0, 1.0}, at::kDouble).view({2, 4});
  SolverOptions solver;
  solver.step = 0.05;
  SampleOptions options{.initial_std = at::zeros({4}, at::kDouble), .per_member = 8};
  const at::Tensor samples = ForecastSamples(*model, x0, {0.5, 1.0}, solver, options).value();
  ASSERT_EQ(samples.sizes(), (at::IntArrayRef{3, 2, 2, 4}));  // K = 1: nothing to draw.
  const at::Tensor plain = SolveOde(*model, x0.unsqueeze(0).expand({3, 2, 4}), 0.0, {0.5, 1.0}, solver)->states;
  EXPECT_TRUE(at::equal(samples, plain.permute({1, 0, 2, 3})));
}

TEST(PerturbedForecast, WindowSamplesSpreadAsTheStartIsUncertain) {
  const std::shared_ptr<HybridModel> model = PkModel(2);
  // Every amount far from 0, so the bound at 0 (AmountsStayNonNegative) plays no part.
  const at::Tensor start = at::tensor({100.0, 20.0, 5.0, 10.0}, at::kDouble).view({1, 4});
  at::Generator gen = at::detail::createCPUGenerator(3);
  const at::Tensor sigma = at::tensor({1.0, 1.0, 1.0, 1.0}, at::kDouble);
  const at::Tensor w = WindowSamples(*model, start, 0.1, 10, sigma, 3000, gen);  // [S, 1, 10, 4]
  ASSERT_EQ(w.size(0), 6000);
  // Without forcing, the variance after τ = 1 is e^{A} Σ0 e^{Aᵀ}.
  const at::Tensor phi = at::linalg_matrix_exp(PkMatrix());
  const at::Tensor expected = phi.matmul(phi.t()).diagonal();
  const at::Tensor got = w.select(2, 9).select(1, 0).var(0);
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(got[i].item<double>(), expected[i].item<double>(), expected[i].item<double>() * 0.08) << i;
  }
  EXPECT_TRUE(at::equal(WindowSamples(*model, start, 0.1, 10, at::zeros({4}, at::kDouble), 3000, gen),
                        ForecastPath(*model, start, 0.1, 10)))
      << "an exact start: the members' plain forecast";
}

// Concurrent forecasts of one model (Predicts on the pool) agree bit for bit.
// They did not with Debian's serial OpenBLAS, which is not thread-safe: the
// members' MLP matmuls over batches of draws got each other's results.
TEST(PerturbedForecast, ConcurrentForecastsAreIdentical) {
  HybridModelSpec spec;
  spec.physics_options.members = 5;
  spec.hidden = {16, 16};
  const std::shared_ptr<HybridModel> model = HybridModel::Create(spec).value();
  const at::Tensor x0 = at::tensor({1.0, 1.0, 20.0}, at::kDouble).view({1, 3});
  SolverOptions solver;
  solver.step = 0.01;
  const SampleOptions options{.initial_std = at::full({3}, 0.05, at::kDouble),
                              .model_error_rate = at::full({3}, 0.1, at::kDouble),
                              .per_member = 8,
                              .seed = 5};
  auto forecast = [&] {
    c10::InferenceMode inference;
    return ForecastSamples(*model, x0, {0.1, 0.2, 0.3, 0.4, 0.5}, solver, options).value();
  };
  const at::Tensor reference = forecast();
  std::atomic<int> different{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) different += at::equal(forecast(), reference) ? 0 : 1;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(different.load(), 0) << "of 100 concurrent forecasts";
}

// Dynamic batching's promise: a forecast solved together with others draws
// what it would alone and answers the same samples — bit for bit on the fused
// path (its rows are computed independently of the batch), to rounding on the
// LibTorch path (whose vectorised/scalar split moves with the batch size).
void ExpectTogetherMatchesAlone(const HybridModel& model, bool bit_for_bit) {
  c10::InferenceMode inference;
  SolverOptions solver;
  solver.step = 0.01;
  const SampleOptions options{.initial_std = at::full({3}, 0.05, model.dtype()),
                              .model_error_rate = at::full({3}, 0.1, model.dtype()),
                              .per_member = 3,  // Odd: forecasts start at rows of every parity.
                              .seed = 11};
  const std::vector<double> times = {0.05, 0.3, 0.31};
  std::vector<at::Tensor> x0s;
  for (int64_t b : {1, 3, 1, 7, 2}) {
    x0s.push_back(
        at::randn({b, 3}, at::kDouble).mul(5).add(at::tensor({0.0, 0.0, 20.0}, at::kDouble)).to(model.dtype()));
  }
  const std::vector<at::Tensor> together = ForecastSamplesTogether(model, x0s, times, solver, options).value();
  ASSERT_EQ(together.size(), x0s.size());
  for (size_t r = 0; r < x0s.size(); ++r) {
    const at::Tensor alone = ForecastSamples(model, x0s[r], times, solver, options).value();
    ASSERT_EQ(together[r].sizes(), alone.sizes()) << "forecast " << r;
    if (bit_for_bit) {
      EXPECT_TRUE(at::equal(together[r], alone))
          << "forecast " << r << ": largest difference " << (together[r] - alone).abs().max().item<double>();
    } else {
      EXPECT_TRUE(at::allclose(together[r], alone, 1e-12, 1e-12)) << "forecast " << r;
    }
    // And not merely equal to a neighbour's: the starts differ.
    if (r > 0) {
      EXPECT_FALSE(at::equal(together[r].select(2, 0), together[r - 1].select(2, 0)));
    }
  }
}

TEST(PerturbedForecast, ForecastsSolvedTogetherAreTheirOwnOnTheFusedPath) {
  HybridModelSpec spec;
  spec.physics_options.members = 5;
  spec.hidden = {32, 32};
  const std::shared_ptr<HybridModel> model = HybridModel::Create(spec).value();
  ASSERT_TRUE(model->HasFusedRk4(at::zeros({5, 4, 3}, at::kDouble)));
  ExpectTogetherMatchesAlone(*model, /*bit_for_bit=*/true);
  spec.physics_options.dtype = at::kFloat;
  ExpectTogetherMatchesAlone(*HybridModel::Create(spec).value(), /*bit_for_bit=*/true);
  // Widths that are no multiple of the SIMD width: a forecast's last tanh
  // values fall in a vector's tail alone but not together.
  spec.hidden = {5, 7};
  spec.physics_options.dtype = at::kDouble;
  ExpectTogetherMatchesAlone(*HybridModel::Create(spec).value(), /*bit_for_bit=*/true);
  // Widths past one vector but no multiple of it: rows that start off a vector boundary.
  spec.hidden = {12, 20};
  ExpectTogetherMatchesAlone(*HybridModel::Create(spec).value(), /*bit_for_bit=*/true);
  // A correction as large as the physics, so that the last bits of its 3
  // outputs (fewer than a vector: rows in the lanes) reach the states: at
  // 0.01 a differently rounded output vanishes in the sum with dx/dt.
  spec.hidden = {16, 16};
  spec.output_scale = 1.0;
  ExpectTogetherMatchesAlone(*HybridModel::Create(spec).value(), /*bit_for_bit=*/true);
  spec.physics_options.dtype = at::kFloat;
  ExpectTogetherMatchesAlone(*HybridModel::Create(spec).value(), /*bit_for_bit=*/true);
}

TEST(PerturbedForecast, ForecastsSolvedTogetherAgreeWithAloneOnTheLibTorchPath) {
  HybridModelSpec spec;
  spec.physics_options.members = 5;
  spec.hidden = {32, 32};
  spec.fused = false;
  const std::shared_ptr<HybridModel> model = HybridModel::Create(spec).value();
  ASSERT_FALSE(model->HasFusedRk4(at::zeros({5, 4, 3}, at::kDouble)));
  ExpectTogetherMatchesAlone(*model, /*bit_for_bit=*/false);
}

// The fused path runs stretches of forced steps in one kernel call, drawing
// the forcing inside; the LibTorch path draws the same counter noise step by
// step. Same samples to rounding, and the same bits however SolveFixed cuts
// the steps into calls (an interrupt check every 16 steps).
TEST(PerturbedForecast, FusedForcedForecastsEqualTheLibTorchPath) {
  HybridModelSpec spec;
  spec.physics_options.members = 4;
  spec.hidden = {16, 16};
  const std::shared_ptr<HybridModel> fused = HybridModel::Create(spec).value();
  spec.fused = false;
  const std::shared_ptr<HybridModel> reference = HybridModel::Create(spec).value();
  c10::InferenceMode inference;
  SolverOptions solver;
  solver.step = 0.01;
  const SampleOptions options{.initial_std = at::full({3}, 0.05, at::kDouble),
                              .model_error_rate = at::tensor({0.2, 0.1, 0.3}, at::kDouble),
                              .per_member = 6,
                              .seed = 23};
  const std::vector<double> times = {0.07, 0.5, 1.0};
  const at::Tensor x0 = at::tensor({1.0, 2.0, 20.0, -3.0, 0.5, 25.0}, at::kDouble).view({2, 3});
  const at::Tensor a = ForecastSamples(*fused, x0, times, solver, options).value();
  const at::Tensor b = ForecastSamples(*reference, x0, times, solver, options).value();
  EXPECT_TRUE(at::allclose(a, b, 1e-12, 1e-12)) << "largest difference " << (a - b).abs().max().item<double>();
  SampleOptions quiet = options;
  quiet.model_error_rate = at::Tensor();
  EXPECT_GT((a - ForecastSamples(*fused, x0, times, solver, quiet).value()).abs().max().item<double>(), 1e-3);
  solver.interrupt = [] { return absl::OkStatus(); };
  EXPECT_TRUE(at::equal(ForecastSamples(*fused, x0, times, solver, options).value(), a));
}

// Under autograd (trainable θ and layers) a forced forecast of a fused model
// takes the LibTorch steps, differentiable, with the same draws.
TEST(PerturbedForecast, ForcedForecastsUnderAutogradTakeTheLibTorchPath) {
  HybridModelSpec spec;
  spec.physics_options.members = 3;
  spec.hidden = {8};
  const std::shared_ptr<HybridModel> model = HybridModel::Create(spec).value();
  SolverOptions solver;
  solver.step = 0.01;
  const SampleOptions options{.model_error_rate = at::full({3}, 0.2, at::kDouble), .per_member = 2, .seed = 3};
  const at::Tensor x0 = at::tensor({1.0, 2.0, 20.0}, at::kDouble).view({1, 3});
  const at::Tensor recorded = ForecastSamples(*model, x0, {0.2}, solver, options).value();
  ASSERT_TRUE(recorded.requires_grad());
  at::NoGradGuard no_grad;
  EXPECT_TRUE(at::allclose(recorded, ForecastSamples(*model, x0, {0.2}, solver, options).value(), 1e-12, 1e-12));
}

}  // namespace
}  // namespace hybrid::solvers
