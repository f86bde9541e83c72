// Kuramoto–Sivashinsky and ETDRK4 against mathematics: conservation of the
// mean, exact linear growth rates, measured fourth order, agreement with an
// independent explicit solve, and gradients through the exponential integrator.
#include "solvers/physics/kuramoto_sivashinsky.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "solvers/integrate/ode_solver.h"
#include "tests/solvers/finite_differences.h"
#include "tests/solvers/solver_presets.h"

namespace hybrid::solvers {
namespace {

std::shared_ptr<KuramotoSivashinsky> Model(int64_t n, double nu = 1.0) {
  PhysicsOptions o;
  o.structure = {{"n", static_cast<double>(n)}};
  o.initial = {{"nu", nu}};
  o.trainable = {"nu"};
  return KuramotoSivashinsky::Create(o).value();
}

// Kassam & Trefethen's start, scaled to the domain, plus an offset.
at::Tensor Start(const KuramotoSivashinsky& ks, double offset = 0.1) {
  const at::Tensor x = at::arange(ks.state_dim(), at::kDouble) * (ks.length() / ks.state_dim());
  const at::Tensor phase = 2 * M_PI * x / ks.length();
  return (offset + at::cos(phase) * (1 + at::sin(phase))).view({1, 1, ks.state_dim()});
}

TEST(KuramotoSivashinsky, ConservesTheMean) {
  auto ks = Model(64);
  const at::Tensor u0 = Start(*ks);
  EXPECT_LT(std::abs(ks->Evaluate(0.0, u0).mean().item<double>()), 1e-14);
  absl::StatusOr<Trajectory> r = SolveEtdRk4(*ks, u0, 0.0, {10.0, 50.0}, 0.25);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT((r->states[1] - u0).abs().max().item<double>(), 0.5);  // Chaos moved it far...
  EXPECT_NEAR(r->states[1].mean().item<double>(), 0.1, 1e-12);     // ...but not its mean.
}

TEST(KuramotoSivashinsky, SmallModesGrowAtTheLinearRate) {
  // u = ε cos(k x) grows as e^{(k² − ν k⁴) t} while ε² terms stay negligible;
  // ETDRK4 treats the linear part exactly, so even a large step is accurate.
  auto ks = Model(32);
  const double eps = 1e-8;
  for (int j : {1, 2, 4}) {  // Growing, growing, decaying for L = 22.
    const double k = 2 * M_PI * j / ks->length();
    const at::Tensor x = at::arange(32, at::kDouble) * (ks->length() / 32);
    const at::Tensor u0 = (eps * at::cos(k * x)).view({1, 1, 32});
    absl::StatusOr<Trajectory> r = SolveEtdRk4(*ks, u0, 0.0, {2.0}, 0.5);
    ASSERT_TRUE(r.ok());
    const double expected = std::exp((k * k - std::pow(k, 4)) * 2.0);
    const double amplitude = (r->states[0] * u0).sum().item<double>() / (u0 * u0).sum().item<double>();
    EXPECT_NEAR(amplitude, expected, 1e-6 * std::max(1.0, expected)) << "mode " << j;
  }
}

// Observed orders of ETDRK4 between successive halvings of h, at t = 4.
std::vector<double> EtdOrders(int64_t n, const std::vector<double>& hs) {
  auto ks = Model(n);
  const at::Tensor u0 = Start(*ks);
  const at::Tensor reference = SolveEtdRk4(*ks, u0, 0.0, {4.0}, 1.0 / 1024).value().states[0];
  std::vector<double> errors, orders;
  for (double h : hs)
    errors.push_back((SolveEtdRk4(*ks, u0, 0.0, {4.0}, h).value().states[0] - reference).abs().max().item<double>());
  for (size_t i = 1; i < hs.size(); ++i) {
    orders.push_back(std::log2(errors[i - 1] / errors[i]));
    std::printf("ETDRK4 on KS, n = %lld, h %.3g → %.3g: error %.3g → %.3g, order %.2f\n", static_cast<long long>(n),
                hs[i - 1], hs[i], errors[i - 1], errors[i], orders.back());
  }
  return orders;
}

TEST(KuramotoSivashinsky, EtdRk4HasOrderFourWhereTheProblemIsNotStiff) {
  // n = 8: k_max⁴ ≈ 1.7, so h·L is O(1) and the classical order shows.
  for (double order : EtdOrders(8, {0.2, 0.1, 0.05, 0.025})) EXPECT_NEAR(order, 4.0, 0.3);
}

TEST(KuramotoSivashinsky, EtdRk4KeepsAtLeastThirdOrderOnStiffGrids) {
  // n = 32: k_max⁴ ≈ 436. Cox–Matthews ETDRK4 is known to lose order on stiff
  // problems (Hochbruck & Ostermann 2005, stiff order ≥ 2); measured here
  // 2.8–3.4, rising towards 4 as h shrinks.
  for (double order : EtdOrders(32, {0.2, 0.1, 0.05, 0.025})) EXPECT_GT(order, 2.6);
}

TEST(KuramotoSivashinsky, EtdRk4AgreesWithAnExplicitAdaptiveSolve) {
  // Independent path: the same equations as a plain vector field through
  // Dormand–Prince at tight tolerance (small steps forced by the stiffness).
  auto ks = Model(32);
  const at::Tensor u0 = Start(*ks);
  SolverOptions o = ::hybrid::testing::TightDopri5();
  o.max_steps = 1000000;
  absl::StatusOr<Trajectory> explicit_solve = SolveOde(*ks, u0, 0.0, {2.0, 5.0}, o);
  ASSERT_TRUE(explicit_solve.ok()) << explicit_solve.status();
  absl::StatusOr<Trajectory> etd = SolveEtdRk4(*ks, u0, 0.0, {2.0, 5.0}, 0.005);
  ASSERT_TRUE(etd.ok());
  const double difference = (explicit_solve->states - etd->states).abs().max().item<double>();
  std::printf("ETDRK4 (h = 0.005, %lld steps) vs dopri5 (%lld steps): max difference %.3g\n",
              static_cast<long long>(etd->stats.accepted), static_cast<long long>(explicit_solve->stats.accepted),
              difference);
  EXPECT_LT(difference, 1e-7);
}

TEST(KuramotoSivashinsky, GradientThroughEtdRk4MatchesFiniteDifferences) {
  auto ks = Model(16, 0.8);
  at::Tensor u0 = Start(*ks);
  at::Tensor target;
  {
    at::NoGradGuard no_grad;
    target = SolveEtdRk4(*ks, u0, 0.0, {1.0}, 0.1).value().states + 0.05 * at::cos(at::arange(16, at::kDouble));
  }
  auto loss = [&] { return (SolveEtdRk4(*ks, u0, 0.0, {1.0}, 0.1).value().states - target).pow(2).mean(); };
  EXPECT_LT(::hybrid::testing::WorstRelativeError(loss, ks->named_parameters()["log_nu"], 2e-3), 1e-6);
  u0.set_requires_grad(true);
  EXPECT_LT(::hybrid::testing::WorstRelativeError(loss, u0, 2e-3), 1e-6);
}

TEST(KuramotoSivashinsky, StructureIsValidated) {
  PhysicsOptions o;
  o.structure = {{"n", 33}};
  EXPECT_NE(KuramotoSivashinsky::Create(o).status().message().find("structure.n"), absl::string_view::npos);
}

}  // namespace
}  // namespace hybrid::solvers
