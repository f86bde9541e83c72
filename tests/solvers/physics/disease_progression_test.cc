// Qian et al.'s disease-progression model: its equations, the closed-form
// dexamethasone pharmacokinetics it contains, its healthy equilibrium, and the
// treatment effect it encodes.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "solvers/integrate/ode_solver.h"
#include "tests/solvers/catalog_model.h"
#include "tests/solvers/solver_presets.h"

namespace hybrid::solvers {
namespace {

using ::hybrid::testing::CatalogModel;

TEST(DiseaseProgression, MatchesTheEquations) {
  PhysicsOptions o;
  o.initial = {{"k_IR", 0.3}, {"k_PF", 0.7},  {"k_O", 1.1},  {"Emax", 2.0}, {"EC50", 0.5}, {"h_P", 2.0}, {"k_Dex", 1.3},
               {"k_DP", 0.9}, {"k_IIR", 0.4}, {"k_DC", 0.6}, {"h_C", 3.0},  {"k1", 0.2},   {"k2", 0.5},  {"k3", 1.5}};
  auto model = CatalogModel("disease_progression", o).value();
  const double z1 = 0.8, z2 = 0.3, z3 = 1.2, z4 = 0.6, z5 = 0.9;
  const at::Tensor f = model->Evaluate(0.0, at::tensor({z1, z2, z3, z4, z5}, at::kDouble).view({1, 1, 5}))[0][0];
  const double dz1 = 0.3 * z4 + 0.7 * z4 * z1 - 1.1 * z1 + 2.0 * z1 * z1 / (0.25 + z1 * z1) - 1.3 * z1 * z2;
  EXPECT_NEAR(f[0].item<double>(), dz1, 1e-14);
  EXPECT_NEAR(f[1].item<double>(), -0.5 * z2 + 1.5 * z3, 1e-14);
  EXPECT_NEAR(f[2].item<double>(), -1.5 * z3, 1e-14);
  EXPECT_NEAR(f[3].item<double>(), 0.9 * z4 - 0.4 * z4 * z1 - 0.6 * z4 * std::pow(z5, 3.0), 1e-14);
  EXPECT_NEAR(f[4].item<double>(), 0.2 * z1, 1e-14);
}

TEST(DiseaseProgression, DexamethasoneFollowsTwoCompartmentKinetics) {
  // A dose D in plasma (z3) with no disease: z3 = D e^{−k3 t},
  // z2 = D k3 / (k3 − k2) (e^{−k2 t} − e^{−k3 t}).
  PhysicsOptions o;
  o.initial = {{"k2", 0.5}, {"k3", 1.5}};
  auto model = CatalogModel("disease_progression", o).value();
  absl::StatusOr<Trajectory> r =
      SolveOde(*model, at::tensor({0.0, 0.0, 4.0, 0.0, 0.0}, at::kDouble).view({1, 1, 5}), 0.0, {0.5, 2.0, 6.0},
               ::hybrid::testing::AdaptiveSolver("dopri5", 1e-10, 1e-12));
  ASSERT_TRUE(r.ok()) << r.status();
  const double times[] = {0.5, 2.0, 6.0};
  for (int i = 0; i < 3; ++i) {
    const double t = times[i];
    EXPECT_NEAR(r->states[i][0][0][2].item<double>(), 4.0 * std::exp(-1.5 * t), 1e-9) << t;
    EXPECT_NEAR(r->states[i][0][0][1].item<double>(), 4.0 * 1.5 / 1.0 * (std::exp(-0.5 * t) - std::exp(-1.5 * t)), 1e-9)
        << t;
  }
}

TEST(DiseaseProgression, HealthyStateIsAnEquilibrium) {
  auto model = CatalogModel("disease_progression", PhysicsOptions{}).value();
  EXPECT_EQ(model->Evaluate(0.0, at::zeros({1, 1, 5}, at::kDouble)).abs().max().item<double>(), 0.0);
}

TEST(DiseaseProgression, ViralLoadStaysPositiveAndAdaptiveImmunityOnlyGrows) {
  // ż4 = z4·(…) keeps z4 > 0; ż1 ≥ 0 whenever z1 = 0 keeps z1 ≥ 0; so ż5 = k1 z1 ≥ 0.
  // (Whether a dose lowers the innate peak depends on the rates: suppressing z1
  // also slows viral clearance, which feeds z1 back. The defaults show both.)
  auto model = CatalogModel("disease_progression", PhysicsOptions{}).value();
  std::vector<double> times;
  for (int i = 1; i <= 56; ++i) times.push_back(0.25 * i);  // 14 days.
  absl::StatusOr<Trajectory> r = SolveOde(*model, at::tensor({0.0, 0.0, 5.0, 0.1, 0.0}, at::kDouble).view({1, 1, 5}),
                                          0.0, times, ::hybrid::testing::AdaptiveSolver("dopri5", 1e-10, 1e-12));
  ASSERT_TRUE(r.ok()) << r.status();
  const at::Tensor z = r->states.select(1, 0).select(1, 0);  // [T, 5]
  EXPECT_GT(z.select(1, 3).min().item<double>(), 0.0);
  EXPECT_GE(z.select(1, 0).min().item<double>(), -1e-12);
  EXPECT_GE((z.select(1, 4).slice(0, 1) - z.select(1, 4).slice(0, 0, -1)).min().item<double>(), -1e-12);
  EXPECT_GT(z[-1][4].item<double>(), 0.1);  // Immunity did build up.
}

}  // namespace
}  // namespace hybrid::solvers
