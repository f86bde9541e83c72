// The scientific model catalog against mathematics: each model's equations at
// a point, its conserved or known quantities, analytic solutions where they
// exist, and gradients of a trajectory loss wrt every parameter and the initial
// state against finite differences.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "solvers/hybrid/hybrid_model.h"
#include "solvers/integrate/ode_solver.h"
#include "solvers/physics/fitzhugh_nagumo.h"
#include "solvers/physics/grid_laplacian.h"
#include "solvers/physics/physics_catalog.h"
#include "tests/solvers/catalog_model.h"
#include "tests/solvers/finite_differences.h"
#include "tests/solvers/solver_presets.h"

namespace hybrid::solvers {
namespace {

using ::hybrid::testing::CatalogModel;
using ::hybrid::testing::WorstRelativeError;

at::Tensor Random(std::vector<int64_t> shape, uint64_t seed, double scale = 1.0, double shift = 0.0) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return shift + scale * at::rand(shape, gen, at::kDouble);
}

// --- Lorenz-96 ---------------------------------------------------------------

TEST(Lorenz96, MatchesTheEquationsWithPeriodicIndices) {
  PhysicsOptions o;
  o.structure = {{"n", 5}};
  o.initial = {{"F", 3.5}};
  auto model = CatalogModel("lorenz96", o).value();
  const std::vector<double> x = {0.3, -1.2, 2.0, 0.7, -0.4};
  const at::Tensor f = model->Evaluate(0.0, at::tensor(x, at::kDouble).view({1, 1, 5}));
  for (int i = 0; i < 5; ++i) {
    const double expected = (x[(i + 1) % 5] - x[(i + 3) % 5]) * x[(i + 4) % 5] - x[i] + 3.5;
    EXPECT_NEAR(f[0][0][i].item<double>(), expected, 1e-14) << "i = " << i;
  }
}

TEST(Lorenz96, AdvectionConservesEnergy) {
  // d/dt ½Σx² = Σ x·f = −Σx² + F Σx: the quadratic term drops out exactly.
  auto model = CatalogModel("lorenz96", PhysicsOptions{}).value();
  const at::Tensor x = Random({1, 4, 40}, 3, 10.0, -5.0);
  const at::Tensor power = (x * model->Evaluate(0.0, x)).sum(2);
  const at::Tensor expected = -(x * x).sum(2) + 8.0 * x.sum(2);
  EXPECT_LT((power - expected).abs().max().item<double>(), 1e-11);
}

TEST(Lorenz96, StructureIsValidatedByName) {
  PhysicsOptions o;
  o.structure = {{"n", 2}};
  EXPECT_NE(CatalogModel("lorenz96", o).status().message().find("structure.n"), absl::string_view::npos);
  o.structure = {{"grid", 8}};
  EXPECT_NE(CatalogModel("lorenz96", o).status().message().find("structure.grid"), absl::string_view::npos);
}

// --- Damped pendulum -----------------------------------------------------------

double PendulumEnergy(const at::Tensor& s, double omega0) {
  const double theta = s[0].item<double>(), omega = s[1].item<double>();
  return 0.5 * omega * omega + omega0 * omega0 * (1.0 - std::cos(theta));
}

TEST(DampedPendulum, ConservesEnergyWithoutDamping) {
  PhysicsOptions o;
  o.initial = {{"alpha", 0.0}};
  auto model = CatalogModel("damped_pendulum", o).value();
  const double omega0 = 2 * M_PI / 12;
  const at::Tensor x0 = at::tensor({2.0, 0.1}, at::kDouble).view({1, 1, 2});  // Large swing: nonlinear.
  std::vector<double> times;
  for (int i = 1; i <= 20; ++i) times.push_back(5.0 * i);
  absl::StatusOr<Trajectory> r = SolveOde(*model, x0, 0.0, times, ::hybrid::testing::TightDopri5());
  ASSERT_TRUE(r.ok()) << r.status();
  const double e0 = PendulumEnergy(x0[0][0], omega0);
  for (size_t i = 0; i < times.size(); ++i) {
    EXPECT_NEAR(PendulumEnergy(r->states[i][0][0], omega0), e0, 1e-9 * e0) << "t = " << times[i];
  }
}

TEST(DampedPendulum, DampingDissipatesEnergyAtRateAlphaOmegaSquared) {
  auto model = CatalogModel("damped_pendulum", PhysicsOptions{}).value();  // α = 0.2
  const at::Tensor x = Random({1, 8, 2}, 5, 4.0, -2.0);
  const double omega0 = 2 * M_PI / 12;
  // dE/dt = ω·ω' + ω0² sin θ · θ' = −α ω².
  const at::Tensor f = model->Evaluate(0.0, x);
  const at::Tensor theta = x.select(2, 0), omega = x.select(2, 1);
  const at::Tensor dE = omega * f.select(2, 1) + omega0 * omega0 * at::sin(theta) * f.select(2, 0);
  EXPECT_LT((dE + 0.2 * omega * omega).abs().max().item<double>(), 1e-14);
}

TEST(DampedPendulum, SmallSwingsFollowTheLinearSolution) {
  PhysicsOptions o;
  o.initial = {{"alpha", 0.0}};
  auto model = CatalogModel("damped_pendulum", o).value();
  const double omega0 = 2 * M_PI / 12, theta0 = 1e-3;
  absl::StatusOr<Trajectory> r = SolveOde(*model, at::tensor({theta0, 0.0}, at::kDouble).view({1, 1, 2}), 0.0,
                                          {3.0, 12.0}, ::hybrid::testing::TightDopri5());
  ASSERT_TRUE(r.ok());
  // θ(t) = θ0 cos(ω0 t) + O(θ0³).
  EXPECT_NEAR(r->states[0][0][0][0].item<double>(), theta0 * std::cos(omega0 * 3.0), 1e-9);
  EXPECT_NEAR(r->states[1][0][0][0].item<double>(), theta0, 1e-9);  // One full period.
}

// --- FitzHugh–Nagumo -----------------------------------------------------------

TEST(PhysicsCatalog, EveryModelNamesItsStateComponentsWithUnits) {
  for (const PhysicsCatalogEntry& entry : PhysicsCatalog()) {
    auto model = entry.create(PhysicsOptions{}).value();
    const std::vector<StateComponent> components = model->Components();
    ASSERT_EQ(static_cast<int64_t>(components.size()), model->state_dim()) << entry.name;
    std::set<std::string> names;
    for (const StateComponent& c : components) {
      EXPECT_FALSE(c.name.empty()) << entry.name;
      EXPECT_FALSE(c.unit.empty()) << entry.name << " " << c.name;
      names.insert(c.name);
    }
    EXPECT_EQ(names.size(), components.size()) << entry.name << ": component names repeat";
  }
  PhysicsOptions grid;
  grid.structure = {{"grid", 4}};
  const std::vector<StateComponent> fields = CatalogModel("fitzhugh_nagumo", grid).value()->Components();
  EXPECT_EQ(fields[0].name, "u[0,0]");
  EXPECT_EQ(fields[5].name, "u[1,1]");  // Row-major…
  EXPECT_EQ(fields[16].name, "v[0,0]");  // …channel first.
}

TEST(FitzHughNagumo, LaplacianHasTheDiscreteFourierEigenvalues) {
  // On a periodic grid, cos(2π j x / L) is an eigenvector of the 5-point
  // Laplacian with eigenvalue −(4/dx²) sin²(π j dx / L).
  const int64_t n = 32;
  const double length = 2.0, dx = length / n;
  const at::Tensor xs = at::arange(n, at::kDouble) * dx;
  for (int j : {1, 3, 7}) {
    const at::Tensor mode =
        at::cos(2 * M_PI * j * xs / length).unsqueeze(0).expand({n, n});  // Varies along the last axis.
    const double eigen = -4.0 / (dx * dx) * std::pow(std::sin(M_PI * j * dx / length), 2);
    EXPECT_LT((PeriodicLaplacian2d(mode, dx) - eigen * mode).abs().max().item<double>(), 1e-10) << "j = " << j;
  }
}

TEST(FitzHughNagumo, MatchesTheEquationsAndSpatialMeansFollowTheKinetics) {
  PhysicsOptions o;
  o.structure = {{"grid", 8}};
  auto model = FitzHughNagumo::Create(o).value();
  const at::Tensor x = Random({1, 2, 128}, 9);
  const at::Tensor f = model->Evaluate(0.0, x).view({2, 2, 8, 8});
  const at::Tensor fields = x.view({2, 2, 8, 8});
  const at::Tensor u = fields.select(1, 0), v = fields.select(1, 1);
  const double dx = 2.0 / 8;
  EXPECT_LT((f.select(1, 0) - (1e-3 * PeriodicLaplacian2d(u, dx) + u - u.pow(3) - v - 5e-3)).abs().max().item<double>(),
            1e-14);
  EXPECT_LT((f.select(1, 1) - (5e-3 * PeriodicLaplacian2d(v, dx) + u - v)).abs().max().item<double>(), 1e-14);
  // Periodic diffusion moves mass without creating it.
  const at::Tensor mean_dv = f.select(1, 1).mean({1, 2});
  EXPECT_LT((mean_dv - (u.mean({1, 2}) - v.mean({1, 2}))).abs().max().item<double>(), 1e-14);

  // reaction: 0 — APHYNITY's incomplete physics — is the diffusion alone.
  o.structure["reaction"] = 0;
  const at::Tensor diffusion = FitzHughNagumo::Create(o).value()->Evaluate(0.0, x).view({2, 2, 8, 8});
  EXPECT_LT((diffusion.select(1, 0) - 1e-3 * PeriodicLaplacian2d(u, dx)).abs().max().item<double>(), 1e-14);
  EXPECT_LT((diffusion.select(1, 1) - 5e-3 * PeriodicLaplacian2d(v, dx)).abs().max().item<double>(), 1e-14);
}

TEST(FitzHughNagumo, DefaultsAreTheAphynitySetting) {
  auto model = FitzHughNagumo::Create(PhysicsOptions{}).value();
  EXPECT_EQ(model->grid(), 32);
  EXPECT_DOUBLE_EQ(model->dx(), 2.0 / 32);
  EXPECT_EQ(model->state_dim(), 2 * 32 * 32);
}

// --- Fisher–KPP ----------------------------------------------------------------

TEST(FisherKpp, MassChangesOnlyByGrowthWithZeroFluxBoundaries) {
  for (int dims : {1, 2}) {
    PhysicsOptions o;
    o.structure = {{"dims", dims}, {"grid", 16}};
    o.initial = {{"D", 0.05}, {"r", 0.7}};
    auto model = CatalogModel("fisher_kpp", o).value();
    const at::Tensor u = Random({1, 3, model->state_dim()}, 11);
    const at::Tensor growth = 0.7 * (u * (1 - u)).sum(2);
    EXPECT_LT((model->Evaluate(0.0, u).sum(2) - growth).abs().max().item<double>(), 1e-12) << dims << "-D";
  }
}

TEST(FisherKpp, UniformDensityFollowsTheLogisticSolution) {
  PhysicsOptions o;
  o.structure = {{"dims", 2}, {"grid", 8}};
  o.initial = {{"r", 1.5}};
  auto model = CatalogModel("fisher_kpp", o).value();
  const double u0 = 0.05;
  absl::StatusOr<Trajectory> r =
      SolveOde(*model, at::full({1, 1, 64}, u0, at::kDouble), 0.0, {1.0, 4.0}, ::hybrid::testing::TightDopri5());
  ASSERT_TRUE(r.ok()) << r.status();
  for (int i = 0; i < 2; ++i) {
    const double t = i == 0 ? 1.0 : 4.0;
    const double exact = 1.0 / (1.0 + (1.0 / u0 - 1.0) * std::exp(-1.5 * t));
    EXPECT_LT((r->states[i] - exact).abs().max().item<double>(), 1e-9) << "t = " << t;
  }
}

// --- Every model: composition and gradients -------------------------------------

struct CatalogCase {
  const char* physics;
  std::map<std::string, double> structure;
  std::set<std::string> trainable;
  double step;
  double scale;  // Of the random initial state.
};

class EveryModel : public ::testing::TestWithParam<CatalogCase> {
 protected:
  std::shared_ptr<HybridModel> Build(std::vector<int64_t> hidden = {}) const {
    HybridModelSpec spec;
    spec.physics = GetParam().physics;
    spec.physics_options.structure = GetParam().structure;
    spec.physics_options.trainable = GetParam().trainable;
    spec.hidden = std::move(hidden);
    absl::StatusOr<std::shared_ptr<HybridModel>> model = HybridModel::Create(spec);
    EXPECT_TRUE(model.ok()) << model.status();
    return model.ok() ? *model : nullptr;
  }
};

TEST_P(EveryModel, ServesInsideAHybridWithACorrection) {
  auto model = Build({8});
  ASSERT_NE(model, nullptr);
  const at::Tensor x = Random({1, 3, model->state_dim()}, 2, GetParam().scale);
  const at::Tensor f = model->Evaluate(0.0, x);
  EXPECT_EQ(f.sizes(), x.sizes());
  EXPECT_TRUE(at::allclose(f, model->physics().Evaluate(0.0, x) + model->Correction(x)));
  EXPECT_TRUE(at::equal(model->Clone()->Evaluate(0.0, x), f));
}

TEST_P(EveryModel, TrajectoryGradientsMatchFiniteDifferences) {
  auto model = Build();
  ASSERT_NE(model, nullptr);
  at::Tensor x0 = Random({1, 2, model->state_dim()}, 4, GetParam().scale);
  const double h = GetParam().step;
  at::Tensor target;
  {
    at::NoGradGuard no_grad;
    // Off the model's own forecast by a non-uniform 0.05 pattern: keeps the loss
    // O(1e-3), and a uniform offset would make the gradient vanish identically
    // for models that conserve the sum of their states (PK/PD).
    const at::Tensor forecast = IntegrateFixed(ClassicRk4(), *model, x0, 0.0, h, 10);
    target = forecast + 0.05 * Random(forecast.sizes().vec(), 6, 2.0, -1.0);
  }
  auto loss = [&] { return (IntegrateFixed(ClassicRk4(), *model, x0, 0.0, h, 10) - target).pow(2).mean(); };
  for (const auto& item : model->named_parameters()) {
    if (!item.value().requires_grad()) continue;
    EXPECT_LT(WorstRelativeError(loss, item.value(), 2e-3), 1e-6) << GetParam().physics << " " << item.key();
  }
  x0.set_requires_grad(true);
  EXPECT_LT(WorstRelativeError(loss, x0, 2e-3 * GetParam().scale), 1e-6) << GetParam().physics << " x0";
}

INSTANTIATE_TEST_SUITE_P(Catalog, EveryModel,
                         ::testing::Values(CatalogCase{"lorenz63", {}, {"sigma", "rho", "beta"}, 0.01, 10.0},
                                           CatalogCase{"lorenz96", {{"n", 6}}, {"F"}, 0.01, 5.0},
                                           CatalogCase{"damped_pendulum", {}, {"omega0", "alpha"}, 0.1, 2.0},
                                           CatalogCase{"fitzhugh_nagumo", {{"grid", 4}}, {"a", "b", "k"}, 0.01, 1.0},
                                           CatalogCase{"fisher_kpp", {{"dims", 1}, {"grid", 8}}, {"D", "r"}, 0.05, 1.0},
                                           CatalogCase{"fisher_kpp", {{"dims", 2}, {"grid", 4}}, {"D", "r"}, 0.05, 1.0},
                                           CatalogCase{
                                               "pkpd_two_compartment", {}, {"ka", "CL", "V1", "Q", "V2"}, 0.2, 50.0},
                                           CatalogCase{"kuramoto_sivashinsky", {{"n", 16}}, {"nu"}, 0.01, 1.0},
                                           CatalogCase{"disease_progression",
                                                       {},
                                                       {"k_IR", "k_PF", "k_O", "Emax", "EC50", "h_P", "k_Dex", "k_DP",
                                                        "k_IIR", "k_DC", "h_C", "k1", "k2", "k3"},
                                                       0.05,
                                                       1.0}),
                         [](const auto& info) {
                           return std::string(info.param.physics) +
                                  (info.param.structure.count("dims")
                                       ? "_" + std::to_string(static_cast<int>(info.param.structure.at("dims"))) + "d"
                                       : "");
                         });

}  // namespace
}  // namespace hybrid::solvers
