// A served model whose physics is a TorchScript module (a Lorenz-63 written
// as TorchScript source and saved here with LibTorch, as torch.jit.save
// writes it): it loads from the model's folder and nowhere else, predicts and
// calibrates as the catalog's Lorenz-63 does (same config otherwise, same
// windows: the same forecasts and the same ρ), and a module that fails at run
// time answers FAILED_PRECONDITION naming the file, the model unchanged; an
// exported entry carries its module and serves as trained. A correction
// written in TorchScript trains online, survives a restart bit for bit,
// exports with its file and fails at run time as a physics module does;
// CheckModelFolder passes a good folder with exact gradients and names the
// fault of a bad one. Observables computed by the module's observe move an
// entity's ensemble exactly as the same linear observable from the config's
// terms does, appear in its forecasts, and fail at run time per report.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/core/model_registry.h"
#include "server/core/served_model.h"
#include "server/repository/model_config.h"
#include "server/repository/model_export.h"
#include "server/repository/model_spec.h"
#include "solvers/integrate/ode_solver.h"
#include "solvers/physics/physics_catalog.h"
#include "tests/scoped_temp_dir.h"
#include "tests/solvers/torchscript/scripted_modules.h"

namespace hybrid::server {
namespace {

// A linear decay that refuses states beyond |x| = 100 (a solver's valid range).
constexpr char kBounded[] = R"(
def forward(self, t: Tensor, x: Tensor, theta: Tensor) -> Tensor:
    assert bool(x.abs().max() < 100.0), 'the state left the range this solver knows'
    return -theta[:, 1].unsqueeze(1).unsqueeze(2) * x
)";

constexpr char kCommon[] = R"(
  ensemble_members: 3 seed: 5 member_jitter: 0.02
  parameters { name: "rho" initial: 20 trainable: true }
)";  // No correction block: additive without layers, physics only.
constexpr char kTorchScript[] = R"(
  physics: PHYSICS_KIND_TORCHSCRIPT
  torchscript {
    file: "physics.pt"
    components { name: "x" } components { name: "y" } components { name: "z" }
    parameters { name: "sigma" default_value: 10 lower: 0.001 upper: 1000 }
    parameters { name: "rho" default_value: 28 lower: 0.001 upper: 1000 }
    parameters { name: "beta" default_value: 2.6666666666666665 lower: 0.001 upper: 1000 }
  }
)";

// A closure g(x) = tanh(x W) V that refuses states beyond |x| = 100.
constexpr char kClosure[] = R"(
def forward(self, x: Tensor) -> Tensor:
    assert bool(x.abs().max() < 100.0), 'the closure left its range'
    return torch.tanh(x @ self.w) @ self.v
)";
constexpr char kScriptedCorrection[] = R"(
  correction { composition: COMPOSITION_ADDITIVE network: NETWORK_KIND_TORCHSCRIPT torchscript_file: "closure.pt" }
  calibration { learning_rate_phi: 0.01 }
)";

class TorchScriptModels : public ::testing::Test {
 protected:
  void SaveModule(const std::string& source) { testing::SaveScriptedModule(dir_.File("physics.pt"), source); }
  void SaveClosure(const std::string& folder) {
    at::manual_seed(3);
    testing::SaveScriptedNetwork(
        folder + "/closure.pt", kClosure,
        {{"w", 0.1 * at::randn({3, 4}, at::kFloat)}, {"v", 0.01 * at::randn({4, 3}, at::kFloat)}});
  }
  absl::StatusOr<std::unique_ptr<ServedModel>> Serve(const std::string& physics, const std::string& extra = "",
                                                     const std::string& state_dir = "") {
    absl::StatusOr<v1::ModelConfig> config =
        ParseModelConfig(absl::StrCat("name: \"l63\" ", physics, kCommon, extra), "test");
    if (!config.ok()) return config.status();
    return ServedModel::Create(*config, &metrics_, dir_.path(), state_dir);
  }
  static PredictQuery Query(std::vector<double> state) {
    PredictQuery q;
    q.model = "l63";
    q.initial_state = {{3}, std::move(state)};
    q.times = {0.2, 0.5};
    q.levels = {0.9};
    return q;
  }
  static ObservationOutcome Submit(ServedModel& model, Observation o) {
    std::promise<ObservationOutcome> done;
    EXPECT_TRUE(model.Submit(std::move(o), [&](ObservationOutcome out) { done.set_value(out); }).ok());
    return done.get_future().get();
  }

  // A window of the true Lorenz-63 from `start`: 10 RK4 steps of 0.01.
  static Observation Window(uint64_t sequence, const std::vector<double>& start) {
    solvers::PhysicsOptions truth;
    std::shared_ptr<solvers::ScientificModel> l63 = solvers::FindPhysics("lorenz63")->create(truth).value();
    solvers::SolverOptions rk4;
    rk4.step = 0.01;
    const at::Tensor x = at::tensor(start, at::kDouble).view({1, 1, 3});
    const at::Tensor end = solvers::SolveOde(*l63, x, 0.0, {0.1}, rk4).value().states[0].contiguous();
    Observation o;
    o.model = "l63";
    o.sequence = sequence;
    o.start = {{3}, start};
    o.end = {{3}, std::vector<double>(end.data_ptr<double>(), end.data_ptr<double>() + 3)};
    o.step = 0.01;
    o.steps = 10;
    return o;
  }

  testing::ScopedTempDir dir_;
  Metrics metrics_;
};

TEST_F(TorchScriptModels, ServeAndCalibrateAsTheCatalogModelTheyReimplement) {
  SaveModule(testing::kScriptedLorenz63);
  std::unique_ptr<ServedModel> scripted = Serve(kTorchScript).value();
  std::unique_ptr<ServedModel> catalog = Serve("physics: PHYSICS_KIND_LORENZ63").value();
  std::vector<std::string> names;
  for (const ComponentInfo& c : scripted->Info().components) names.push_back(c.name + " " + c.unit);
  EXPECT_EQ(names, (std::vector<std::string>{"x 1", "y 1", "z 1"}));

  const PredictAnswer a = scripted->Predict(Query({1.0, 2.0, 20.0})).value();
  const PredictAnswer b = catalog->Predict(Query({1.0, 2.0, 20.0})).value();
  ASSERT_EQ(a.mean.values.size(), b.mean.values.size());
  for (size_t i = 0; i < a.mean.values.size(); ++i) {
    EXPECT_NEAR(a.mean.values[i], b.mean.values[i], 1e-9);
    EXPECT_NEAR(a.std.values[i], b.std.values[i], 1e-9);
  }

  // Windows of the true Lorenz-63 (ρ = 28), each 10 RK4 steps of 0.01.
  solvers::PhysicsOptions truth;
  std::shared_ptr<solvers::ScientificModel> l63 = solvers::FindPhysics("lorenz63")->create(truth).value();
  at::Tensor x = at::tensor({1.0, 1.0, 25.0}, at::kDouble).view({1, 1, 3});
  solvers::SolverOptions rk4;
  rk4.step = 0.01;
  for (int k = 0; k < 40; ++k) {
    const at::Tensor next = solvers::SolveOde(*l63, x, 0.0, {0.1}, rk4).value().states[0];
    Observation o;
    o.model = "l63";
    o.sequence = static_cast<uint64_t>(k + 1);
    const auto* start = x.data_ptr<double>();
    const at::Tensor end = next.contiguous();
    o.start = {{3}, std::vector<double>(start, start + 3)};
    o.end = {{3}, std::vector<double>(end.data_ptr<double>(), end.data_ptr<double>() + 3)};
    o.step = 0.01;
    o.steps = 10;
    const ObservationOutcome p = Submit(*scripted, o), q = Submit(*catalog, o);
    ASSERT_TRUE(p.status.ok()) << p.status;
    ASSERT_EQ(p.status.code(), q.status.code());
    x = next.contiguous();
  }
  const double rho_scripted = scripted->Info().parameters[1].value, rho_catalog = catalog->Info().parameters[1].value;
  EXPECT_NEAR(rho_scripted, rho_catalog, 1e-9 * rho_catalog);
  EXPECT_GT(rho_scripted, 21.0);  // On its way from 20 to 28.
  EXPECT_EQ(scripted->Info().version, catalog->Info().version);
}

TEST_F(TorchScriptModels, OnlyAFileInTheModelsFolderLoadsAndFaultsNameIt) {
  SaveModule(testing::kScriptedLorenz63);
  for (const char* file : {"../physics.pt", "/tmp/physics.pt", "sub/../../physics.pt", ""}) {
    const std::string physics =
        std::string(kTorchScript).replace(std::string(kTorchScript).find("physics.pt"), 10, file);
    const absl::Status s = Serve(physics).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << file;
    EXPECT_NE(s.message().find("must be a path inside the model's folder"), absl::string_view::npos) << s;
  }
  const std::string absent =
      std::string(kTorchScript).replace(std::string(kTorchScript).find("physics.pt"), 10, "absent.pt");
  absl::Status s = Serve(absent).status();
  EXPECT_NE(s.message().find("torchscript.file '" + dir_.File("absent.pt") + "': no such file"),
            absl::string_view::npos)
      << s;
  s = Serve("physics: PHYSICS_KIND_LORENZ63 torchscript { file: \"physics.pt\" }").status();
  EXPECT_NE(s.message().find("torchscript: only for physics PHYSICS_KIND_TORCHSCRIPT"), absl::string_view::npos) << s;
  // Symbolic links: one that stays inside loads, one that leads out does not.
  std::filesystem::create_symlink("physics.pt", dir_.File("current.pt"));
  const auto named = [&](const std::string& file) {
    return std::string(kTorchScript).replace(std::string(kTorchScript).find("physics.pt"), 10, file);
  };
  EXPECT_TRUE(Serve(named("current.pt")).ok());
  testing::ScopedTempDir elsewhere;
  std::filesystem::copy_file(dir_.File("physics.pt"), elsewhere.File("physics.pt"));
  std::filesystem::create_symlink(elsewhere.File("physics.pt"), dir_.File("outside.pt"));
  s = Serve(named("outside.pt")).status();
  EXPECT_NE(s.message().find("torchscript.file 'outside.pt' leads out of the model's folder"), absl::string_view::npos)
      << s;
  s = Serve(kTorchScript, "structure { key: \"n\" value: 3 }").status();
  EXPECT_NE(s.message().find("structure"), absl::string_view::npos) << s;
}

TEST_F(TorchScriptModels, AModuleFailingAtRunTimeIsAFailedPreconditionAndChangesNothing) {
  SaveModule(kBounded);
  std::unique_ptr<ServedModel> model = Serve(kTorchScript).value();
  ASSERT_TRUE(model->Predict(Query({1.0, 2.0, 3.0})).ok());
  const absl::Status predict = model->Predict(Query({150.0, 2.0, 3.0})).status();
  EXPECT_EQ(predict.code(), absl::StatusCode::kFailedPrecondition) << predict;
  EXPECT_NE(predict.message().find("torchscript.file '" + dir_.File("physics.pt") + "': forward failed"),
            absl::string_view::npos)
      << predict;
  EXPECT_NE(predict.message().find("the state left the range this solver knows"), absl::string_view::npos);

  const ModelInfo before = model->Info();
  Observation o;
  o.model = "l63";
  o.sequence = 1;
  o.start = {{3}, {150.0, 2.0, 3.0}};
  o.end = {{3}, {140.0, 2.0, 3.0}};
  o.step = 0.01;
  o.steps = 5;
  const ObservationOutcome outcome = Submit(*model, o);
  EXPECT_EQ(outcome.status.code(), absl::StatusCode::kFailedPrecondition) << outcome.status;
  EXPECT_NE(outcome.status.message().find("forward failed"), absl::string_view::npos) << outcome.status;
  EXPECT_EQ(metrics_.ForModel("l63", model->config().calibration().coverage_level()).failed->Value(), 1.0);
  const ModelInfo after = model->Info();
  EXPECT_EQ(after.version, before.version);
  EXPECT_EQ(after.parameters[1].value, before.parameters[1].value);
  EXPECT_TRUE(model->Predict(Query({1.0, 2.0, 3.0})).ok());  // It serves on.
}

TEST_F(TorchScriptModels, AnExportedEntryCarriesItsModuleAndServesAsTrained) {
  SaveModule(testing::kScriptedLorenz63);
  solvers::HybridModelSpec spec =
      SpecFromConfig(ParseModelConfig(absl::StrCat("name: \"l63\" ", kTorchScript, kCommon), "test").value()).value();
  spec.torchscript.file = dir_.File("physics.pt");
  std::shared_ptr<solvers::HybridModel> trained = solvers::HybridModel::Create(spec).value();
  {
    at::NoGradGuard no_grad;  // Stand-in for training: each member's ρ moves its own way.
    trained->physics().TrainableRaw()[0].add_(at::tensor({0.1, 0.15, 0.2}, at::kDouble));
  }
  testing::ScopedTempDir repository;
  ASSERT_TRUE(ExportModelEntry(*trained, repository.path(), "scripted", "from Python").ok());
  EXPECT_TRUE(std::filesystem::is_regular_file(repository.File("scripted/physics.pt")));
  auto registry = ModelRegistry::Open({.repository = repository.path()}, &metrics_).value();
  std::shared_ptr<ServedModel> served = registry->Find("scripted").value();
  const ModelInfo info = served->Info();
  EXPECT_NEAR(info.parameters[1].value, trained->physics().Value(1).mean().item<double>(), 1e-9);
  EXPECT_NEAR(info.parameters[1].std, trained->physics().Value(1).std(/*unbiased=*/true).item<double>(), 1e-9);
  EXPECT_EQ(info.components[2].name, "z");
  const v1::TorchScriptConfig& written = served->config().torchscript();
  EXPECT_EQ(written.file(), "physics.pt");
  ASSERT_EQ(written.parameters_size(), 3);
  EXPECT_EQ(written.parameters(2).name(), "beta");
  EXPECT_EQ(written.parameters(2).default_value(), 8.0 / 3.0);
  // A module named like the entry's own files would be overwritten: refused.
  std::filesystem::copy_file(dir_.File("physics.pt"), dir_.File("checkpoint.pt"));
  spec.torchscript.file = dir_.File("checkpoint.pt");
  EXPECT_EQ(ExportModelEntry(*solvers::HybridModel::Create(spec).value(), repository.path(), "clash", "").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TorchScriptModels, ACorrectionInTorchScriptTrainsSurvivesRestartsAndExports) {
  SaveClosure(dir_.path());
  testing::ScopedTempDir state;
  const std::string physics = "physics: PHYSICS_KIND_LORENZ63";
  std::vector<double> before, trained;
  {
    std::unique_ptr<ServedModel> model = Serve(physics, kScriptedCorrection, state.path()).value();
    before = model->Predict(Query({1.0, 2.0, 20.0})).value().mean.values;
    std::vector<double> x = {1.0, 1.0, 25.0};
    for (uint64_t k = 1; k <= 20; ++k) {
      const Observation o = Window(k, x);
      ASSERT_TRUE(Submit(*model, o).status.ok());
      x = o.end.values;
    }
    trained = model->Predict(Query({1.0, 2.0, 20.0})).value().mean.values;
    EXPECT_NE(trained, before);  // φ (and ρ) moved.
  }                              // Stops: the final checkpoint holds the closure's weights.
  std::unique_ptr<ServedModel> restarted = Serve(physics, kScriptedCorrection, state.path()).value();
  EXPECT_EQ(restarted->Predict(Query({1.0, 2.0, 20.0})).value().mean.values, trained);

  // Run-time faults of the closure: FAILED_PRECONDITION naming the file, the model unchanged.
  const ModelInfo info = restarted->Info();
  const ObservationOutcome outcome = Submit(*restarted, Window(21, {150.0, 2.0, 3.0}));
  EXPECT_EQ(outcome.status.code(), absl::StatusCode::kFailedPrecondition) << outcome.status;
  EXPECT_NE(
      outcome.status.message().find("correction.torchscript_file '" + dir_.File("closure.pt") + "': forward failed"),
      absl::string_view::npos)
      << outcome.status;
  EXPECT_EQ(restarted->Info().version, info.version);
  EXPECT_EQ(restarted->Predict(Query({1.0, 2.0, 20.0})).value().mean.values, trained);

  // Paths: inside the model's folder only.
  const absl::Status outside =
      Serve(
          physics,
          std::string(kScriptedCorrection).replace(std::string(kScriptedCorrection).find("closure.pt"), 10, "../c.pt"))
          .status();
  EXPECT_NE(outside.message().find("correction.torchscript_file '../c.pt' must be a path inside the model's folder"),
            absl::string_view::npos)
      << outside;
}

TEST_F(TorchScriptModels, AnEntryWithAScriptedCorrectionExportsAndChecks) {
  SaveClosure(dir_.path());
  solvers::HybridModelSpec spec =
      SpecFromConfig(
          ParseModelConfig(absl::StrCat("name: \"l63\" ", kTorchScript, kCommon, kScriptedCorrection), "test").value())
          .value();
  SaveModule(testing::kScriptedLorenz63);
  spec.torchscript.file = dir_.File("physics.pt");
  spec.correction_file = dir_.File("closure.pt");
  std::shared_ptr<solvers::HybridModel> model = solvers::HybridModel::Create(spec).value();
  testing::ScopedTempDir repository;
  ASSERT_TRUE(ExportModelEntry(*model, repository.path(), "scripted", "").ok());
  EXPECT_TRUE(std::filesystem::is_regular_file(repository.File("scripted/closure.pt")));
  const absl::StatusOr<std::string> report = CheckModelFolder(repository.File("scripted/"));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_NE(report->find("model 'scripted' passes every load check"), std::string::npos) << *report;
  // Exact gradients through both modules: far below a finite difference's own error.
  const size_t at = report->find("worst relative error ");
  ASSERT_NE(at, std::string::npos) << *report;
  EXPECT_LT(std::stod(report->substr(at + 21)), 1e-6) << *report;

  // Two modules of one file name would land on each other in the entry: refused.
  testing::ScopedTempDir other;
  std::filesystem::copy_file(dir_.File("closure.pt"), other.File("physics.pt"));
  solvers::HybridModelSpec clash = spec;
  clash.correction_file = other.File("physics.pt");
  EXPECT_EQ(ExportModelEntry(*solvers::HybridModel::Create(clash).value(), repository.path(), "clash", "").code(),
            absl::StatusCode::kInvalidArgument);
  // A model whose gradients cannot be compared (float32) still passes, saying so.
  std::filesystem::create_directories(repository.File("f32"));
  std::ofstream(repository.File("f32/config.pbtxt"))
      << "name: \"f32\" physics: PHYSICS_KIND_LORENZ63 dtype: \"float32\"";
  const absl::StatusOr<std::string> f32 = CheckModelFolder(repository.File("f32"));
  ASSERT_TRUE(f32.ok()) << f32.status();
  EXPECT_NE(f32->find("gradients not compared (a float32 model"), std::string::npos) << *f32;

  testing::SaveScriptedNetwork(repository.File("scripted/closure.pt"),
                               "def forward(self, x: Tensor) -> Tensor:\n    return (x @ self.w).detach()\n",
                               {{"w", at::eye(3, at::kFloat)}});
  const absl::Status broken = CheckModelFolder(repository.File("scripted")).status();
  EXPECT_EQ(broken.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(broken.message().find("closure.pt"), absl::string_view::npos) << broken;
  EXPECT_NE(broken.message().find("not differentiable by autograd"), absl::string_view::npos) << broken;
}

// Lorenz-63 with an observation operator: x + 2y, and x·y/ρ (nonlinear, through θ).
const std::string kObservedLorenz63 = std::string(testing::kScriptedLorenz63) + R"(
def observe(self, x: Tensor, theta: Tensor) -> Tensor:
    assert bool(x[:, :, 2].abs().max() < 100.0), 'the sensor saturated'
    rho = theta[:, 1].unsqueeze(1)
    return torch.stack([x[:, :, 0] + 2.0 * x[:, :, 1], x[:, :, 0] * x[:, :, 1] / rho], 2)
)";
constexpr char kEntities[] = R"(
  entities { prior_mean: [1, 1, 20] prior_std: [1, 1, 2] max_step: 0.01 }
)";

TEST_F(TorchScriptModels, ScriptedObservablesReadEntitiesAsTheirLinearTwinDoes) {
  SaveModule(kObservedLorenz63);
  const std::string scripted =
      absl::StrCat(kEntities, R"(observables { name: "x_plus_2y" scripted: true noise_std: 0.2 }
                    observables { name: "xy_over_rho" unit: "1" scripted: true noise_std: 0.1 })");
  const std::string linear = absl::StrCat(
      kEntities, R"(observables { name: "x_plus_2y" terms { component: "x" } terms { component: "y" weight: 2 }
                                  noise_std: 0.2 })");
  std::unique_ptr<ServedModel> a = Serve(kTorchScript, scripted).value();
  std::unique_ptr<ServedModel> b = Serve(kTorchScript, linear).value();
  auto observe = [](ServedModel& model, double time, std::vector<Reading> readings) {
    ReportBatch batch;
    batch.model = "l63";
    batch.reports = {{"e", time, std::move(readings), {}}};
    std::promise<std::vector<ReportOutcome>> done;
    EXPECT_TRUE(model.Observe(std::move(batch), [&](std::vector<ReportOutcome> o) { done.set_value(o); }).ok());
    return done.get_future().get().at(0);
  };
  for (const auto& [time, value] : {std::pair{0.0, 3.0}, std::pair{0.1, 2.5}, std::pair{0.3, 4.0}}) {
    ASSERT_TRUE(observe(*a, time, {{"x_plus_2y", value, {}}}).status.ok());
    ASSERT_TRUE(observe(*b, time, {{"x_plus_2y", value, {}}}).status.ok());
  }
  const std::vector<double> ea = a->GetEntity("e")->ensemble.values, eb = b->GetEntity("e")->ensemble.values;
  ASSERT_EQ(ea.size(), eb.size());
  for (size_t i = 0; i < ea.size(); ++i) EXPECT_NEAR(ea[i], eb[i], 1e-9 * (1.0 + std::abs(eb[i]))) << i;

  // A forecast of the entity carries both scripted columns; x·y/ρ is each sample's, so its mean is near the
  // mean's (the spread is small after three readings) and it has the config's unit.
  PredictQuery q;
  q.model = "l63";
  q.entity = "e";
  q.times = {0.1};
  q.max_step = 0.01;
  const PredictAnswer forecast = a->Predict(q).value();
  ASSERT_EQ(forecast.components.size(), 5u);
  EXPECT_EQ(forecast.components[4].name, "xy_over_rho");
  const std::vector<double>& m = forecast.mean.values;
  EXPECT_NEAR(m[3], m[0] + 2.0 * m[1], 1e-9);
  EXPECT_NEAR(m[4], m[0] * m[1] / a->Info().parameters[1].value, 0.2 * std::abs(m[4]) + 0.05);

  // The module failing for one report: FAILED_PRECONDITION naming the file and the fault, the entity unchanged.
  ASSERT_TRUE(observe(*a, 1.0, {{"z", 500.0, 1e-3}}).status.ok());  // A component: observe is not called.
  const std::vector<double> held = a->GetEntity("e")->ensemble.values;
  const ReportOutcome saturated = observe(*a, 1.0, {{"x_plus_2y", 3.0, {}}});
  EXPECT_EQ(saturated.status.code(), absl::StatusCode::kFailedPrecondition) << saturated.status;
  EXPECT_NE(saturated.status.message().find("torchscript.file '" + dir_.File("physics.pt") + "': observe failed"),
            absl::string_view::npos)
      << saturated.status;
  EXPECT_NE(saturated.status.message().find("the sensor saturated"), absl::string_view::npos) << saturated.status;
  EXPECT_EQ(a->GetEntity("e")->ensemble.values, held);
  EXPECT_EQ(metrics_.ForModel("l63", a->config().calibration().coverage_level()).reports_failed->Value(), 1.0);

  // Config errors name the field.
  EXPECT_NE(
      Serve("physics: PHYSICS_KIND_LORENZ63", absl::StrCat(kEntities, R"(observables { name: "o" scripted: true })"))
          .status()
          .message()
          .find("observables[0].scripted: only for physics PHYSICS_KIND_TORCHSCRIPT"),
      absl::string_view::npos);
  EXPECT_NE(Serve(kTorchScript, R"(observables { name: "o" scripted: true terms { component: "x" } }
                                     observables { name: "p" scripted: true })")
                .status()
                .message()
                .find("observables[0].terms: a scripted observable is the module's"),
            absl::string_view::npos);
  SaveModule(testing::kScriptedLorenz63);  // No observe method.
  const absl::Status missing = Serve(kTorchScript, scripted).status();
  EXPECT_NE(missing.message().find("has no method 'observe'"), absl::string_view::npos) << missing;
}

}  // namespace
}  // namespace hybrid::server
