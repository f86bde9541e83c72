// TorchScript corrections against mathematics: a network written as
// TorchScript source (a submodule layer and a parameter, saved in float32 as a
// user's nn.Module would be) is, for every member of a hybrid model, exactly
// tanh(x W + b) V with the file's weights in float64; its weights are the
// model's φ (named in checkpoints, trained in place, copied by FirstMembers,
// restored by LoadTrainedWeights); and the gradient of an RK4 forecast with
// respect to them matches finite differences. Modules that break the
// contract are refused at load naming the file and the fault; one that
// throws later throws SolverFailure (the server's FAILED_PRECONDITION).
#include "solvers/torchscript/torchscript_correction.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/script.h>

#include <string>

#include "solvers/hybrid/hybrid_model.h"
#include "solvers/hybrid/trained_weights.h"
#include "solvers/integrate/ode_solver.h"
#include "solvers/torch_status.h"
#include "tests/scoped_temp_dir.h"
#include "tests/solvers/finite_differences.h"
#include "tests/solvers/torchscript/scripted_modules.h"

namespace hybrid::solvers {
namespace {

constexpr char kNetwork[] = R"(
def forward(self, x: Tensor) -> Tensor:
    return torch.tanh(self.hidden.forward(x)) @ self.out
)";
constexpr char kLayer[] = R"(
def forward(self, x: Tensor) -> Tensor:
    return x @ self.weight + self.bias
)";

class TorchScriptCorrectionTest : public ::testing::Test {
 protected:
  TorchScriptCorrectionTest() {
    at::manual_seed(7);
    weight_ = at::randn({3, 4}, at::kFloat);
    bias_ = at::randn({4}, at::kFloat);
    out_ = 0.1 * at::randn({4, 3}, at::kFloat);
  }
  // The 3 → 4 → 3 network in float32, saved as `name`.pt.
  std::string SaveNetwork(const std::string& name, const std::string& source = kNetwork) {
    torch::jit::Module layer("__torch__.Layer");
    layer.register_parameter("weight", weight_.clone().requires_grad_(true), /*is_buffer=*/false);
    layer.register_parameter("bias", bias_.clone(), /*is_buffer=*/false);  // Frozen, as requires_grad=False.
    layer.define(kLayer);
    const std::string path = dir_.File(name + ".pt");
    testing::SaveScriptedNetwork(path, source, {{"out", out_.clone()}}, {{"hidden", layer}});
    return path;
  }
  HybridModelSpec Spec(const std::string& file) const {
    HybridModelSpec spec;
    spec.physics = "lorenz63";
    spec.physics_options.members = 3;
    spec.network = NetworkKind::kTorchScript;
    spec.correction_file = file;
    return spec;
  }
  // tanh(x W + b) V with the file's weights, in float64.
  at::Tensor Expected(const at::Tensor& x) const {
    return at::matmul(at::tanh(at::matmul(x, weight_.to(at::kDouble)) + bias_.to(at::kDouble)), out_.to(at::kDouble));
  }
  absl::Status LoadStatus(const std::string& source) {
    return LoadTorchScriptCorrection(SaveNetwork("bad", source), 3, at::kDouble).status();
  }

  testing::ScopedTempDir dir_;
  at::Tensor weight_, bias_, out_;
};

TEST_F(TorchScriptCorrectionTest, EveryMemberStartsAsTheFilesNetworkInTheModelsDtype) {
  std::shared_ptr<HybridModel> model = HybridModel::Create(Spec(SaveNetwork("net"))).value();
  ASSERT_TRUE(model->has_correction());
  const at::Tensor x = at::randn({3, 5, 3}, at::kDouble);
  const at::Tensor g = model->Correction(x);
  ASSERT_EQ(g.scalar_type(), at::kDouble);
  for (int64_t m = 0; m < 3; ++m) EXPECT_TRUE(at::allclose(g[m], Expected(x[m]), 0.0, 1e-12)) << m;
  EXPECT_TRUE(at::allclose(model->Evaluate(0.0, x), model->Physics(x) + g, 0.0, 1e-12));
  EXPECT_EQ(model->PhiParameters().size(), 9u);  // 3 tensors × 3 members.
  const auto tensors = NamedModelTensors(*model);
  for (const char* key : {"correction.m0_hidden_weight", "correction.m2_hidden_bias", "correction.m1_out"}) {
    EXPECT_EQ(tensors.count(key), 1u) << key;
  }
  // Trained as saved: the bias was frozen in the file, the others were not.
  EXPECT_TRUE(tensors.at("correction.m0_hidden_weight").requires_grad());
  EXPECT_TRUE(tensors.at("correction.m1_out").requires_grad());
  EXPECT_FALSE(tensors.at("correction.m2_hidden_bias").requires_grad());
}

TEST_F(TorchScriptCorrectionTest, ItsWeightsAreTrainedInPlaceWithExactGradients) {
  std::shared_ptr<HybridModel> model = HybridModel::Create(Spec(SaveNetwork("net"))).value();
  const at::Tensor x = at::randn({3, 2, 3}, at::kDouble);
  at::Tensor v = NamedModelTensors(*model).at("correction.m1_out");
  auto loss = [&] {
    SolverOptions rk4;
    rk4.step = 0.01;
    const Trajectory r = SolveOde(*model, x, 0.0, {0.2}, rk4).value();
    return (r.states * r.states).sum();
  };
  EXPECT_LT(testing::WorstRelativeError(loss, v, 1e-4), 1e-6);

  // A step on member 1's weights changes member 1's correction only.
  const at::Tensor before = model->Correction(x).detach();
  {
    at::NoGradGuard no_grad;
    v.add_(0.5);
  }
  const at::Tensor after = model->Correction(x).detach();
  EXPECT_TRUE(at::equal(after[0], before[0]));
  EXPECT_FALSE(at::allclose(after[1], before[1]));

  // Copies carry the trained weights and share the loaded file; so do checkpoints.
  std::shared_ptr<HybridModel> copy = model->FirstMembers(2);
  EXPECT_EQ(copy->spec().correction_module, model->spec().correction_module);
  EXPECT_TRUE(at::allclose(copy->Correction(x.narrow(0, 0, 2)), after.narrow(0, 0, 2), 0.0, 1e-12));
  ASSERT_TRUE(SaveTrainedWeights(*model, dir_.File("weights.pt")).ok());
  std::shared_ptr<HybridModel> fresh = HybridModel::Create(Spec(SaveNetwork("net"))).value();
  EXPECT_FALSE(at::allclose(fresh->Correction(x), after));
  ASSERT_TRUE(LoadTrainedWeights(*fresh, dir_.File("weights.pt")).ok());
  EXPECT_TRUE(at::allclose(fresh->Correction(x), after, 0.0, 1e-12));
}

TEST_F(TorchScriptCorrectionTest, ModulesThatBreakTheContractAreRefusedNamingFileAndFault) {
  const struct {
    const char* name;
    std::string source;
    const char* says;
  } cases[] = {
      {"no forward", "def step(self, x: Tensor) -> Tensor:\n    return x @ self.out.t()[:, 0:3]\n",
       "has no method 'forward'"},
      {"other arguments", "def forward(self, t: Tensor, x: Tensor) -> Tensor:\n    return x\n",
       "must be forward(self, x)"},
      {"another shape", "def forward(self, x: Tensor) -> Tensor:\n    return torch.tanh(self.hidden.forward(x))\n",
       "answered shape [2, 4] for states of shape [2, 3]"},
      {"another dtype",
       "def forward(self, x: Tensor) -> Tensor:\n    return (torch.tanh(self.hidden.forward(x)) @ self.out).float()\n",
       "answered Float for Double states"},
      {"non-finite values",
       "def forward(self, x: Tensor) -> Tensor:\n    return torch.tanh(self.hidden.forward(x)) @ self.out / 0.0\n",
       "non-finite"},
      {"no gradient",
       "def forward(self, x: Tensor) -> Tensor:\n    return (torch.tanh(self.hidden.forward(x)) @ self.out).detach()\n",
       "not differentiable by autograd"},
      {"an exception",
       "def forward(self, x: Tensor) -> Tensor:\n    assert bool(x.sum() > 1e9), 'the closure blew up'\n    return x\n",
       "forward failed: RuntimeError: AssertionError: the closure blew up"},
  };
  for (const auto& c : cases) {
    const absl::Status status = LoadStatus(c.source);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name << ": " << status;
    EXPECT_NE(status.message().find("correction.torchscript_file '" + dir_.File("bad.pt") + "'"),
              absl::string_view::npos)
        << c.name << ": " << status;
    EXPECT_NE(status.message().find(c.says), absl::string_view::npos) << c.name << ": " << status;
  }
  {
    torch::jit::Module fixed("__torch__.Fixed");  // Only a frozen weight.
    fixed.register_parameter("w", at::ones({3}), /*is_buffer=*/false);
    fixed.define("def forward(self, x: Tensor) -> Tensor:\n    return -x * self.w\n");
    fixed.save(dir_.File("fixed.pt"));
    const absl::Status status = LoadTorchScriptCorrection(dir_.File("fixed.pt"), 3, at::kDouble).status();
    EXPECT_NE(status.message().find("has no parameters to train"), absl::string_view::npos) << status;
  }
  HybridModelSpec layered = Spec(SaveNetwork("net"));
  layered.hidden = {8};
  EXPECT_NE(HybridModel::Create(layered).status().message().find("correction.hidden must be empty"),
            absl::string_view::npos);
  EXPECT_NE(HybridModel::Create(Spec(dir_.File("absent.pt"))).status().message().find("no such file"),
            absl::string_view::npos);
}

TEST_F(TorchScriptCorrectionTest, AModuleThatThrowsLaterThrowsSolverFailure) {
  const std::string source = R"(
def forward(self, x: Tensor) -> Tensor:
    assert bool(x.abs().max() < 100.0), 'the closure blew up'
    return torch.tanh(self.hidden.forward(x)) @ self.out
)";
  std::shared_ptr<HybridModel> model = HybridModel::Create(Spec(SaveNetwork("late", source))).value();
  const at::Tensor x = at::ones({3, 2, 3}, at::kDouble);
  EXPECT_NO_THROW(model->Evaluate(0.0, x));
  try {
    model->Evaluate(0.0, 1000.0 * x);
    ADD_FAILURE() << "no exception";
  } catch (const SolverFailure& e) {
    EXPECT_NE(std::string(e.what()).find("correction.torchscript_file '" + dir_.File("late.pt") + "': forward failed"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("the closure blew up"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hybrid::solvers
