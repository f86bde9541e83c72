// Black-box physics: the plain-C++ Lorenz steps against the LibTorch models'
// RK4, their tangent-linear models against finite differences, the C and
// Fortran example plugins against the native steps, plugin load errors, and a
// HybridModel that advances by Ψ(x) + h·g(x).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "solvers/black_box/black_box_physics.h"
#include "solvers/black_box/native_lorenz_steps.h"
#include "solvers/black_box/plugin_step.h"
#include "solvers/hybrid/hybrid_model.h"
#include "solvers/integrate/butcher_tableau.h"
#include "solvers/integrate/ode_solver.h"
#include "solvers/physics/lorenz63.h"
#include "tests/solvers/catalog_model.h"

namespace hybrid::solvers {
namespace {

using ::hybrid::testing::CatalogModel;

std::vector<double> Advance(const BlackBoxStep& step, std::vector<double> x, std::vector<double> theta, double h,
                            int64_t n) {
  std::vector<double> out(x.size());
  const absl::Status s = step.Advance(x.data(), theta.data(), h, n, out.data());
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

std::vector<double> Lorenz96State(int64_t n) {
  std::vector<double> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[i] = 8.0 + std::sin(0.7 * static_cast<double>(i)) + (i == 3 ? 0.01 : 0.0);
  return x;
}

double MaxAbsDiff(const std::vector<double>& a, const std::vector<double>& b) {
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

// The same RK4 on the LibTorch model of the same equations.
std::vector<double> TorchRk4(const ScientificModel& model, const std::vector<double>& x, double h, int64_t n) {
  const at::Tensor x0 = at::tensor(x, at::kDouble).view({1, 1, -1});
  const at::Tensor out = IntegrateFixed(ClassicRk4(), model, x0, 0.0, h, n).flatten().contiguous();
  return std::vector<double>(out.data_ptr<double>(), out.data_ptr<double>() + out.numel());
}

TEST(NativeLorenzSteps, MatchTheLibTorchModelsRk4) {
  PhysicsOptions incomplete;
  incomplete.structure = {{"beta_term", 0}};
  const std::vector<double> x63 = {1.0, -2.0, 24.0};
  EXPECT_LT(MaxAbsDiff(Advance(*MakeLorenz63Step(true), x63, {10.0, 28.0, 8.0 / 3.0}, 0.01, 50),
                       TorchRk4(*Lorenz63::Create(PhysicsOptions{}).value(), x63, 0.01, 50)),
            1e-11);
  EXPECT_LT(MaxAbsDiff(Advance(*MakeLorenz63Step(false), x63, {10.0, 28.0, 8.0 / 3.0}, 0.01, 50),
                       TorchRk4(*Lorenz63::Create(incomplete).value(), x63, 0.01, 50)),
            1e-11);
  PhysicsOptions n40;
  n40.structure = {{"n", 40}};
  EXPECT_LT(MaxAbsDiff(Advance(*MakeLorenz96Step(40), Lorenz96State(40), {8.0}, 0.05, 20),
                       TorchRk4(*CatalogModel("lorenz96", n40).value(), Lorenz96State(40), 0.05, 20)),
            1e-11);
}

// (Ψ(x + εv) − Ψ(x − εv)) / 2ε against the tangent-linear model applied to v.
void ExpectTangentMatchesDifferences(const BlackBoxStep& step, const std::vector<double>& x,
                                     const std::vector<double>& theta, double h, int64_t n) {
  std::vector<double> v(x.size()), plus(x), minus(x), dout(x.size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::cos(1.3 * static_cast<double>(i) + 0.2);
  const double eps = 1e-6;
  for (size_t i = 0; i < x.size(); ++i) plus[i] += eps * v[i], minus[i] -= eps * v[i];
  const std::vector<double> up = Advance(step, plus, theta, h, n), down = Advance(step, minus, theta, h, n);
  ASSERT_TRUE(step.has_tangent_linear());
  ASSERT_TRUE(step.TangentLinear(x.data(), theta.data(), h, n, v.data(), dout.data()).ok());
  double scale = 0.0;
  for (double d : dout) scale = std::max(scale, std::abs(d));
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(dout[i], (up[i] - down[i]) / (2.0 * eps), 1e-7 * scale) << step.name() << " component " << i;
  }
}

TEST(NativeLorenzSteps, TangentLinearModelsMatchCentralDifferences) {
  ExpectTangentMatchesDifferences(*MakeLorenz63Step(true), {1.0, -2.0, 24.0}, {10.0, 28.0, 8.0 / 3.0}, 0.01, 10);
  ExpectTangentMatchesDifferences(*MakeLorenz63Step(false), {1.0, -2.0, 24.0}, {10.0, 28.0, 8.0 / 3.0}, 0.01, 10);
  ExpectTangentMatchesDifferences(*MakeLorenz96Step(40), Lorenz96State(40), {8.0}, 0.05, 4);
}

TEST(NativeLorenzSteps, ReportANonFiniteState) {
  std::vector<double> x = {1e200, 1e200, 1e200}, theta = {10.0, 28.0, 8.0 / 3.0}, out(3);
  const absl::Status s = MakeLorenz63Step(true)->Advance(x.data(), theta.data(), 0.01, 5, out.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("non-finite"), absl::string_view::npos) << s;
}

PluginDescription Lorenz96Plugin(int64_t n) {
  return {HYBRID_PLUGIN_LORENZ96_C, n, {{"F", "1", 8.0, 1e-3, 1e3, true, "forcing"}}};
}

PluginDescription Lorenz63Plugin() {
  return {HYBRID_PLUGIN_LORENZ63_FORTRAN,
          3,
          {{"sigma", "1", 10.0, 1e-3, 1e3, true, ""},
           {"rho", "1", 28.0, 1e-3, 1e3, true, ""},
           {"beta", "1", 8.0 / 3.0, 1e-3, 1e3, true, ""}}};
}

TEST(PluginStep, CPluginMatchesTheNativeLorenz96StepAndTangent) {
  absl::StatusOr<std::shared_ptr<const BlackBoxStep>> plugin = LoadPluginStep(Lorenz96Plugin(40));
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  EXPECT_LT(MaxAbsDiff(Advance(**plugin, Lorenz96State(40), {7.5}, 0.05, 10),
                       Advance(*MakeLorenz96Step(40), Lorenz96State(40), {7.5}, 0.05, 10)),
            1e-12);
  ExpectTangentMatchesDifferences(**plugin, Lorenz96State(40), {8.0}, 0.05, 4);
}

TEST(PluginStep, FortranPluginMatchesTheNativeLorenz63Step) {
  absl::StatusOr<std::shared_ptr<const BlackBoxStep>> plugin = LoadPluginStep(Lorenz63Plugin());
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  EXPECT_FALSE((*plugin)->has_tangent_linear());
  const std::vector<double> theta = {9.0, 26.0, 2.5};
  EXPECT_LT(MaxAbsDiff(Advance(**plugin, {1.0, -2.0, 24.0}, theta, 0.01, 100),
                       Advance(*MakeLorenz63Step(true), {1.0, -2.0, 24.0}, theta, 0.01, 100)),
            1e-10);
  std::vector<double> x = {1.0, 2.0, 3.0}, v = x, out(3);
  EXPECT_EQ((*plugin)->TangentLinear(x.data(), theta.data(), 0.01, 1, v.data(), out.data()).code(),
            absl::StatusCode::kUnimplemented);
}

void ExpectLoadError(const PluginDescription& d, const std::string& needle) {
  absl::StatusOr<std::shared_ptr<const BlackBoxStep>> plugin = LoadPluginStep(d);
  ASSERT_FALSE(plugin.ok());
  EXPECT_EQ(plugin.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(plugin.status().message().find(needle), absl::string_view::npos) << plugin.status();
}

TEST(PluginStep, LoadErrorsNameTheConfigField) {
  PluginDescription d = Lorenz96Plugin(40);
  d.library = "/nonexistent/libphysics.so";
  ExpectLoadError(d, "plugin.library: no such file");
  d.library = HYBRID_SOURCE_DIR "/plugins/hybrid_physics_plugin.h";  // A file, not a library.
  ExpectLoadError(d, "plugin.library: cannot load");
  d.library = "/lib/x86_64-linux-gnu/libm.so.6";  // A library without the ABI.
  ExpectLoadError(d, "does not export hybrid_plugin_abi_version");
  PluginDescription wrong_size = Lorenz63Plugin();
  wrong_size.state_dim = 4;  // The Fortran plugin refuses n ≠ 3: caught by the probe step.
  ExpectLoadError(wrong_size, "probe step");
  PluginDescription bad_bounds = Lorenz96Plugin(40);
  bad_bounds.parameters[0].lower = 0.0;  // Positive parameters are calibrated in log space.
  ExpectLoadError(bad_bounds, "plugin.parameters[0] ('F'): a positive parameter needs lower > 0");
  bad_bounds.parameters[0].lower = 1e-3;
  bad_bounds.parameters.push_back(bad_bounds.parameters[0]);
  ExpectLoadError(bad_bounds, "duplicate name");
}

TEST(BlackBoxHybrid, StepsByThePhysicsStepPlusTheEulerCorrection) {
  HybridModelSpec spec;
  spec.physics = "plugin";
  spec.plugin = Lorenz96Plugin(8);
  spec.physics_options.members = 2;
  spec.physics_options.initial = {{"F", 6.0}};
  spec.hidden = {8};
  spec.output_scale = 0.5;
  std::shared_ptr<HybridModel> model = HybridModel::Create(spec).value();
  ASSERT_TRUE(model->HasDiscreteStep());
  const at::Tensor x = at::tensor(Lorenz96State(8), at::kDouble).view({1, 1, 8}).expand({2, 3, 8}).contiguous();
  const double h = 0.05;
  const at::Tensor psi = at::tensor(Advance(*MakeLorenz96Step(8), Lorenz96State(8), {6.0}, h, 1), at::kDouble);
  const at::Tensor expected = psi.view({1, 1, 8}) + h * model->Correction(x);
  EXPECT_TRUE(at::allclose(model->DiscreteStep(0.0, x, h), expected, 1e-13, 1e-13));
  // Fixed-step solves (Predict's path) use it; adaptive ones are refused.
  SolverOptions fixed;
  fixed.adaptive = false;
  fixed.step = h;
  absl::StatusOr<Trajectory> solved = SolveOde(*model, x, 0.0, {h}, fixed);
  ASSERT_TRUE(solved.ok()) << solved.status();
  EXPECT_TRUE(at::allclose(solved->states[0], expected, 1e-13, 1e-13));
  SolverOptions adaptive;
  adaptive.adaptive = true;
  adaptive.method = "dopri5";
  EXPECT_EQ(SolveOde(*model, x, 0.0, {h}, adaptive).status().code(), absl::StatusCode::kInvalidArgument);
  // Black-box hybrids are additive or physics-only.
  spec.composition = Composition::kSerial;
  EXPECT_EQ(HybridModel::Create(spec).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BlackBoxHybrid, ClonesShareTheLoadedPluginEvenWhenItsFileIsGone) {
  const std::string copy = ::testing::TempDir() + "/hybrid_plugin_copy.so";
  std::filesystem::copy_file(HYBRID_PLUGIN_LORENZ96_C, copy, std::filesystem::copy_options::overwrite_existing);
  HybridModelSpec spec;
  spec.physics = "plugin";
  spec.plugin = Lorenz96Plugin(8);
  spec.plugin.library = copy;
  spec.hidden = {4};
  std::shared_ptr<HybridModel> model = HybridModel::Create(spec).value();
  std::filesystem::remove(copy);                        // Deleted or replaced on disk while the server runs.
  std::shared_ptr<HybridModel> clone = model->Clone();  // Every published snapshot is a clone.
  const at::Tensor x = at::tensor(Lorenz96State(8), at::kDouble).view({1, 1, 8});
  EXPECT_TRUE(at::equal(clone->DiscreteStep(0.0, x, 0.05), model->DiscreteStep(0.0, x, 0.05)));
}

}  // namespace
}  // namespace hybrid::solvers
