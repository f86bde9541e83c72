// Checkpoints: a save/load round trip restores the vector field exactly, and
// every way a checkpoint can fail to fit its model is refused by name with the
// model left as it was. Also the atomic file writer they rely on.
#include "solvers/hybrid/trained_weights.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/atomic_file.h"
#include "tests/scoped_temp_dir.h"

namespace hybrid::solvers {
namespace {

using base::WriteFileAtomically;

using ::hybrid::testing::ScopedTempDir;

// Parallel composition + MLP with input scaling + noise head: every kind of
// tensor a checkpoint holds (θ, weights, α, buffers).
HybridModelSpec Spec() {
  HybridModelSpec spec;
  spec.physics_options.members = 3;
  spec.physics_options.trainable = {"sigma", "rho"};
  spec.physics_options.member_jitter = 0.1;
  spec.physics_options.seed = 1;
  spec.composition = Composition::kParallel;
  spec.hidden = {8, 8};
  spec.noise_hidden = {4};
  spec.input_center = {0.0, 0.0, 25.0};
  spec.input_scale = {8.0, 9.0, 8.5};
  spec.output_gain = 30.0;
  return spec;
}

// Moves every parameter away from its initial value, as training would.
void Perturb(HybridModel& model, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::NoGradGuard no_grad;
  for (at::Tensor& p : model.parameters()) p.add_(0.1 * at::randn(p.sizes(), gen, p.scalar_type()));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(HybridCheckpoint, RoundTripRestoresTheVectorFieldExactly) {
  ScopedTempDir dir;
  auto trained = HybridModel::Create(Spec()).value();
  Perturb(*trained, 7);
  ASSERT_TRUE(SaveTrainedWeights(*trained, dir.File("model.pt")).ok());

  auto fresh = HybridModel::Create(Spec()).value();
  const at::Tensor x = at::randn({3, 5, 3}, at::kDouble) * 5.0 + 10.0;
  ASSERT_FALSE(at::equal(fresh->Evaluate(0.0, x), trained->Evaluate(0.0, x)));
  const absl::Status loaded = LoadTrainedWeights(*fresh, dir.File("model.pt"));
  ASSERT_TRUE(loaded.ok()) << loaded;
  EXPECT_TRUE(at::equal(fresh->Evaluate(0.0, x), trained->Evaluate(0.0, x)));
  EXPECT_TRUE(at::equal(fresh->LogVariance(x), trained->LogVariance(x)));
  EXPECT_TRUE(at::equal(fresh->physics().Value(1), trained->physics().Value(1)));
  EXPECT_TRUE(at::equal(fresh->Alpha(), trained->Alpha()));
}

void ExpectRefusedUnchanged(HybridModel& model, const std::string& path, absl::StatusCode code,
                            const std::string& words) {
  const at::Tensor x = at::ones({model.members(), 2, 3}, at::kDouble);
  const at::Tensor before = model.Evaluate(0.0, x);
  const absl::Status s = LoadTrainedWeights(model, path);
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_NE(s.message().find(words), absl::string_view::npos) << s;
  EXPECT_TRUE(at::equal(model.Evaluate(0.0, x), before)) << "a refused checkpoint changed the model";
}

TEST(HybridCheckpoint, CheckpointsThatDoNotFitAreRefusedByName) {
  ScopedTempDir dir;
  auto trained = HybridModel::Create(Spec()).value();
  Perturb(*trained, 8);
  ASSERT_TRUE(SaveTrainedWeights(*trained, dir.File("model.pt")).ok());
  auto model = HybridModel::Create(Spec()).value();

  ExpectRefusedUnchanged(*model, dir.File("absent.pt"), absl::StatusCode::kNotFound, "absent.pt");

  HybridModelSpec wider = Spec();
  wider.hidden = {8, 9};
  auto other = HybridModel::Create(wider).value();
  ExpectRefusedUnchanged(*other, dir.File("model.pt"), absl::StatusCode::kInvalidArgument,
                         "correction.b1' has shape [3, 1, 8]");

  HybridModelSpec headless = Spec();
  headless.noise_hidden.clear();
  auto no_head = HybridModel::Create(headless).value();
  ExpectRefusedUnchanged(*no_head, dir.File("model.pt"), absl::StatusCode::kInvalidArgument, "noise_head");

  HybridModelSpec additive = Spec();
  additive.composition = Composition::kAdditive;
  auto other_composition = HybridModel::Create(additive).value();
  ExpectRefusedUnchanged(*other_composition, dir.File("model.pt"), absl::StatusCode::kInvalidArgument, "parallel");

  HybridModelSpec fewer = Spec();
  fewer.physics_options.members = 2;
  auto two = HybridModel::Create(fewer).value();
  ExpectRefusedUnchanged(*two, dir.File("model.pt"), absl::StatusCode::kInvalidArgument, "has shape [3]");

  // A checkpoint cut short (e.g. copied while being written by hand).
  const std::string bytes = ReadFile(dir.File("model.pt"));
  ASSERT_TRUE(WriteFileAtomically(dir.File("torn.pt"), bytes.substr(0, bytes.size() / 2)).ok());
  ExpectRefusedUnchanged(*model, dir.File("torn.pt"), absl::StatusCode::kInternal, "torn.pt");

  // Non-finite trained values (a diverged run) never reach a served model.
  {
    at::NoGradGuard no_grad;
    trained->parameters()[0].fill_(std::nan(""));
  }
  ASSERT_TRUE(SaveTrainedWeights(*trained, dir.File("nan.pt")).ok());
  ExpectRefusedUnchanged(*model, dir.File("nan.pt"), absl::StatusCode::kInvalidArgument, "NaN");
}

TEST(AtomicFile, ReplacesWholeFilesAndLeavesNothingBehindOnFailure) {
  ScopedTempDir dir;
  const std::string path = dir.File("config.pbtxt");
  ASSERT_TRUE(WriteFileAtomically(path, "first").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "second, longer").ok());
  EXPECT_EQ(ReadFile(path), "second, longer");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1) << "temporary file left behind";

  const absl::Status s = WriteFileAtomically(dir.File("missing/folder/x"), "bytes");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("missing/folder/x"), absl::string_view::npos) << s;
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

}  // namespace
}  // namespace hybrid::solvers
