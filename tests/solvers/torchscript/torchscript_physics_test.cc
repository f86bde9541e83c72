// TorchScript physics against mathematics and against the catalog: a
// Lorenz-63 module written as TorchScript source (compiled and saved here
// with LibTorch, as torch.jit.save would) gives the catalog's Lorenz-63 field
// to 1e-12, and the gradient of an RK4 forecast through it with respect to
// ρ matches finite differences; copies of a model share the loaded module.
// Modules that break the contract — no forward, other arguments, another
// shape, a tuple, another dtype, non-finite values, no gradient, an
// exception, assignments to its own attributes, not TorchScript at all — are refused at load naming the file
// and what was wrong; one that throws later throws SolverFailure (the
// server's FAILED_PRECONDITION) from Evaluate, naming the file.
#include "solvers/torchscript/torchscript_physics.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/script.h>

#include <fstream>
#include <string>

#include "solvers/hybrid/hybrid_model.h"
#include "solvers/integrate/ode_solver.h"
#include "solvers/physics/physics_catalog.h"
#include "solvers/torch_status.h"
#include "tests/scoped_temp_dir.h"
#include "tests/solvers/finite_differences.h"
#include "tests/solvers/torchscript/scripted_modules.h"

namespace hybrid::solvers {
namespace {

class TorchScriptPhysicsTest : public ::testing::Test {
 protected:
  // Compiles `source` into a module's methods and saves it, as torch.jit.save does.
  std::string Save(const std::string& name, const std::string& source) {
    const std::string path = dir_.File(name + ".pt");
    testing::SaveScriptedModule(path, source);
    return path;
  }
  static TorchScriptDescription Lorenz63(const std::string& file) {
    return {file,
            {{"x", "1"}, {"y", "1"}, {"z", "1"}},
            {{"sigma", "1", 10.0, 1e-3, 1e3, true, ""},
             {"rho", "1", 28.0, 1e-3, 1e3, true, ""},
             {"beta", "1", 8.0 / 3.0, 1e-3, 1e3, true, ""}}};
  }
  absl::Status LoadStatus(const std::string& source) {
    return LoadTorchScriptModule(Lorenz63(Save("bad", source)), at::kDouble).status();
  }

  testing::ScopedTempDir dir_;
};

TEST_F(TorchScriptPhysicsTest, ALorenz63ModuleIsTheCatalogsLorenz63) {
  std::shared_ptr<const TorchScriptModule> module =
      LoadTorchScriptModule(Lorenz63(Save("lorenz63", testing::kScriptedLorenz63)), at::kDouble).value();
  PhysicsOptions options;
  options.members = 3;
  options.initial = {{"rho", 25.0}};
  options.trainable = {"rho"};
  options.member_jitter = 0.05;
  options.seed = 4;
  std::shared_ptr<TorchScriptPhysics> scripted = TorchScriptPhysics::Create(module, options).value();
  std::shared_ptr<ScientificModel> catalog = FindPhysics("lorenz63")->create(options).value();
  ASSERT_EQ(scripted->state_dim(), 3);
  EXPECT_EQ(scripted->Components()[2].name, "z");
  const at::Tensor x = 10.0 * at::randn({3, 5, 3}, at::kDouble);
  EXPECT_TRUE(at::allclose(scripted->Evaluate(0.3, x), catalog->Evaluate(0.3, x), 0.0, 1e-12));

  // The gradient of an RK4 forecast with respect to each member's log ρ.
  auto loss = [&] {
    SolverOptions rk4;
    rk4.step = 0.01;
    const Trajectory r = SolveOde(*scripted, x, 0.0, {0.5}, rk4).value();
    return (r.states * r.states).sum();
  };
  const at::Tensor raw = scripted->TrainableRaw().at(0);
  EXPECT_LT(testing::WorstRelativeError(loss, raw, 1e-4), 1e-6);
}

TEST_F(TorchScriptPhysicsTest, CopiesOfAHybridModelShareTheLoadedModule) {
  HybridModelSpec spec;
  spec.physics = "torchscript";
  spec.torchscript = Lorenz63(Save("lorenz63", testing::kScriptedLorenz63));
  spec.physics_options.members = 4;
  spec.hidden = {8};
  std::shared_ptr<HybridModel> model = HybridModel::Create(spec).value();
  std::shared_ptr<HybridModel> copy = model->FirstMembers(2);
  const auto& original = dynamic_cast<const TorchScriptPhysics&>(model->physics());
  EXPECT_EQ(dynamic_cast<const TorchScriptPhysics&>(copy->physics()).module(), original.module());
  const at::Tensor x = at::randn({4, 3, 3}, at::kDouble);
  EXPECT_TRUE(at::allclose(copy->Evaluate(0.0, x.narrow(0, 0, 2)), model->Evaluate(0.0, x).narrow(0, 0, 2)));
  spec.physics_options.structure = {{"n", 3}};
  EXPECT_NE(HybridModel::Create(spec).status().message().find("structure"), absl::string_view::npos);
}

TEST_F(TorchScriptPhysicsTest, ModulesThatBreakTheContractAreRefusedNamingFileAndFault) {
  const struct {
    const char* name;
    std::string source;
    const char* says;
  } cases[] = {
      {"no forward", "def step(self, x: Tensor) -> Tensor:\n    return x\n", "has no method 'forward'"},
      {"other arguments", "def forward(self, x: Tensor) -> Tensor:\n    return x\n",
       "must be forward(self, t, x, theta)"},
      {"another shape", "def forward(self, t: Tensor, x: Tensor, theta: Tensor) -> Tensor:\n    return x[:, :, 0:2]\n",
       "answered shape [2, 2, 2] for states of shape [2, 2, 3]"},
      {"a tuple",
       "def forward(self, t: Tensor, x: Tensor, theta: Tensor) -> Tuple[Tensor, Tensor]:\n    return (x, x)\n",
       "not a Tensor"},
      {"another dtype", "def forward(self, t: Tensor, x: Tensor, theta: Tensor) -> Tensor:\n    return x.float()\n",
       "answered Float for Double states"},
      {"non-finite values", "def forward(self, t: Tensor, x: Tensor, theta: Tensor) -> Tensor:\n    return x / 0.0\n",
       "non-finite"},
      {"no gradient",
       "def forward(self, t: Tensor, x: Tensor, theta: Tensor) -> Tensor:\n"
       "    return (x * theta[:, 1].unsqueeze(1).unsqueeze(2)).detach()\n",
       "not differentiable by autograd"},
      {"an exception",
       "def forward(self, t: Tensor, x: Tensor, theta: Tensor) -> Tensor:\n"
       "    assert bool(t < -1.0), 'the solver blew up'\n    return x\n",
       "forward failed at t = 0: RuntimeError: AssertionError: the solver blew up"},
  };
  for (const auto& c : cases) {
    const absl::Status status = LoadStatus(c.source);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name << ": " << status;
    EXPECT_NE(status.message().find("torchscript.file '" + dir_.File("bad.pt") + "'"), absl::string_view::npos)
        << c.name << ": " << status;
    EXPECT_NE(status.message().find(c.says), absl::string_view::npos) << c.name << ": " << status;
  }
  {
    torch::jit::Module counting("__torch__.Counting");
    counting.register_attribute("calls", c10::IntType::get(), 0);
    counting.define(
        "def forward(self, t: Tensor, x: Tensor, theta: Tensor) -> Tensor:\n"
        "    self.calls = self.calls + 1\n    return -x\n");
    counting.save(dir_.File("counting.pt"));
    const absl::Status status = LoadTorchScriptModule(Lorenz63(dir_.File("counting.pt")), at::kDouble).status();
    EXPECT_NE(status.message().find("forward assigns to attributes of the module"), absl::string_view::npos) << status;
  }
  {
    std::ofstream(dir_.File("text.pt")) << "def forward(self, t, x, theta): return x\n";
    const absl::Status status = LoadTorchScriptModule(Lorenz63(dir_.File("text.pt")), at::kDouble).status();
    EXPECT_NE(status.message().find("does not load as TorchScript"), absl::string_view::npos) << status;
  }
  EXPECT_NE(
      LoadTorchScriptModule(Lorenz63(dir_.File("absent.pt")), at::kDouble).status().message().find("no such file"),
      absl::string_view::npos);
  TorchScriptDescription twice = Lorenz63(Save("lorenz63", testing::kScriptedLorenz63));
  twice.components[1].name = "x";
  EXPECT_NE(LoadTorchScriptModule(twice, at::kDouble).status().message().find("torchscript.components[1] ('x')"),
            absl::string_view::npos);
  TorchScriptDescription bounds = Lorenz63(Save("lorenz63", testing::kScriptedLorenz63));
  bounds.parameters[1].upper = 1.0;
  EXPECT_NE(LoadTorchScriptModule(bounds, at::kDouble).status().message().find("torchscript.parameters[1] ('rho')"),
            absl::string_view::npos);
}

TEST_F(TorchScriptPhysicsTest, AnObservationOperatorIsCheckedAndReadsWithEachMembersTheta) {
  const std::string observe = std::string(testing::kScriptedLorenz63) + R"(
def observe(self, x: Tensor, theta: Tensor) -> Tensor:
    return (x[:, :, 0] * x[:, :, 1] / theta[:, 1].unsqueeze(1)).unsqueeze(2)
)";
  TorchScriptDescription d = Lorenz63(Save("observed", observe));
  d.observables = 1;
  std::shared_ptr<const TorchScriptModule> module = LoadTorchScriptModule(d, at::kDouble).value();
  PhysicsOptions options;
  options.members = 3;
  options.member_jitter = 0.1;
  options.trainable = {"rho"};
  std::shared_ptr<TorchScriptPhysics> physics = TorchScriptPhysics::Create(module, options).value();
  const at::Tensor x = at::randn({2, 4, 3}, at::kDouble);  // The first two members only.
  const at::Tensor rho = physics->Value(1).narrow(0, 0, 2).view({2, 1});
  EXPECT_TRUE(at::allclose(physics->Observe(x).squeeze(2), x.select(2, 0) * x.select(2, 1) / rho, 0.0, 1e-12));

  const struct {
    const char* name;
    std::string source;
    const char* says;
  } cases[] = {
      {"no observe", testing::kScriptedLorenz63, "has no method 'observe'"},
      {"another shape",
       std::string(testing::kScriptedLorenz63) +
           "def observe(self, x: Tensor, theta: Tensor) -> Tensor:\n    return x\n",
       "observe answered shape [2, 2, 3] for states of shape [2, 2, 3] (it must be [M, B, 1]"},
      {"no gradient",
       std::string(testing::kScriptedLorenz63) +
           "def observe(self, x: Tensor, theta: Tensor) -> Tensor:\n    return x[:, :, 0:1].detach()\n",
       "observe is not differentiable by autograd"},
  };
  for (const auto& c : cases) {
    TorchScriptDescription bad = Lorenz63(Save("bad", c.source));
    bad.observables = 1;
    const absl::Status status = LoadTorchScriptModule(bad, at::kDouble).status();
    EXPECT_NE(status.message().find(c.says), absl::string_view::npos) << c.name << ": " << status;
  }
}

TEST_F(TorchScriptPhysicsTest, AModuleThatThrowsLaterThrowsFromEvaluate) {
  const std::string source = std::string(R"(
def forward(self, t: Tensor, x: Tensor, theta: Tensor) -> Tensor:
    assert bool(t <= 1.0), 'the solver blew up'
    return -x
)");
  std::shared_ptr<const TorchScriptModule> module =
      LoadTorchScriptModule(Lorenz63(Save("late", source)), at::kFloat).value();
  PhysicsOptions options;
  options.dtype = at::kFloat;
  std::shared_ptr<TorchScriptPhysics> physics = TorchScriptPhysics::Create(module, options).value();
  const at::Tensor x = at::ones({1, 2, 3}, at::kFloat);
  EXPECT_TRUE(at::equal(physics->Evaluate(0.5, x), -x));
  try {
    physics->Evaluate(2.0, x);
    ADD_FAILURE() << "no exception";
  } catch (const SolverFailure& e) {  // FAILED_PRECONDITION for the server.
    EXPECT_NE(std::string(e.what()).find("torchscript.file '" + dir_.File("late.pt") + "': forward failed at t = 2"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("the solver blew up"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hybrid::solvers
