// One training iteration of the FitzHugh–Nagumo hybrid in APHYNITY's setting
// (experiments/reaction_diffusion.cc): diffusion physics a·Δu, b·Δv on a
// periodic 32×32 grid (a, b trained as log a, log b) plus a periodic CNN
// closure 2-16-16-2 (3×3 circular convolutions, tanh), 16 windows × 10 RK4
// steps of 0.1 from the true system's states (reaction terms included, RK4
// of 0.01), float32, loss the MSE over every step of the windows' paths, Adam
// (θ 3e-3, φ 3e-3): hybridserve's training step against PyTorch's time for
// the same problem (fitzhugh_nagumo_training_torch.py: an RK4 loop over torch
// ops), which scripts/bench measures just before on this machine.
//
// A conv closure has no fused kernel (HybridModel::UsesFusedPath): both run
// LibTorch's convolutions, so the figure is the cost of everything around
// them. Also prints the convolutions' arithmetic rate (multiply-adds of the
// forward and the two backward products per iteration).
//
//   build/tests/fitzhugh_nagumo_training_benchmark [--rounds=9] [--torch_reference_ms=X]
//
// One LibTorch thread. Prints the median (min–max) ms per iteration and the ratio.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <cstdio>
#include <memory>
#include <optional>

#include "solvers/hybrid/hybrid_model.h"
#include "solvers/hybrid/trajectory_rollout.h"
#include "solvers/training/hybrid_objective.h"
#include "solvers/training/theta_phi_adam.h"
#include "tests/benchmarks/training_benchmark_support.h"

namespace {

using hybrid::solvers::HybridModel;
using hybrid::solvers::HybridModelSpec;

constexpr int64_t kGrid = 32, kWindows = 16, kSteps = 10, kChannels = 2, kHidden = 16;
constexpr double kStep = 0.1;

HybridModelSpec FieldModel(int reaction) {
  HybridModelSpec spec;
  spec.physics = "fitzhugh_nagumo";
  spec.physics_options.structure = {{"grid", kGrid}, {"reaction", reaction}};
  return spec;
}

// Windows of the true system (a = 1e-3, b = 5e-3, k = 5e-3) from U[0, 1) fields, float64 RK4 of 0.01.
std::pair<at::Tensor, at::Tensor> Windows() {
  HybridModelSpec truth = FieldModel(1);
  truth.composition = hybrid::solvers::Composition::kPhysicsOnly;
  const std::shared_ptr<HybridModel> model = HybridModel::Create(truth).value();
  at::Generator gen = at::detail::createCPUGenerator(7);
  const at::Tensor x0 = at::rand({kWindows, kChannels * kGrid * kGrid}, gen, at::kDouble);
  at::NoGradGuard no_grad;
  const at::Tensor path = hybrid::solvers::RolloutTrajectory(*model, x0, kStep, kSteps, /*substeps=*/10);
  return {x0.to(at::kFloat).unsqueeze(0), path.to(at::kFloat)};  // [1, W, D], [1, W, steps, D]
}

class ServedTraining {
 public:
  ServedTraining(const at::Tensor& x0, const at::Tensor& y) : x0_(x0), y_(y) {
    HybridModelSpec spec = FieldModel(0);  // APHYNITY's physics: the diffusion alone.
    spec.network = hybrid::solvers::NetworkKind::kConv;
    spec.physics_options.initial = {{"a", 2e-3}, {"b", 1e-2}};
    spec.physics_options.trainable = {"a", "b"};
    spec.physics_options.dtype = at::kFloat;
    spec.physics_options.seed = 5;
    spec.hidden = {kHidden, kHidden};
    spec.output_scale = 0.3;
    model_ = HybridModel::Create(spec).value();
    objective_ = std::make_unique<hybrid::solvers::HybridObjective>(
        hybrid::solvers::HybridObjective::Create(*model_, {}).value());
    adam_ = hybrid::solvers::MakeThetaPhiAdam(*model_, 3e-3, 3e-3);
    model_->train(true);
  }
  float Step() {
    adam_->zero_grad();
    hybrid::solvers::ObjectiveTerms terms = objective_->Evaluate(*model_, x0_, y_, kStep, 1);
    terms.total.backward();
    adam_->step();
    model_->physics().ClampToBounds();
    objective_->AfterStep(terms);
    return static_cast<float>(terms.data);
  }
  const HybridModel& model() const { return *model_; }

 private:
  at::Tensor x0_, y_;
  std::shared_ptr<HybridModel> model_;
  std::unique_ptr<hybrid::solvers::HybridObjective> objective_;
  std::unique_ptr<torch::optim::Adam> adam_;
};

}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(1);
  const std::optional<hybrid::bench::BenchmarkOptions> options =
      hybrid::bench::ParseBenchmarkOptions(argc, argv, "fitzhugh_nagumo_training_benchmark", 9);
  if (!options) return 2;
  const int rounds = options->rounds;
  const double torch_reference_ms = options->torch_reference_ms;
  const auto [x0, y] = Windows();
  ServedTraining served(x0, y);
  std::printf("FitzHugh-Nagumo hybrid training, %lld windows x %lld RK4 steps of %.1f, %lldx%lld grid, "
              "CNN 2-16-16-2, float32, Adam\n",
              static_cast<long long>(kWindows), static_cast<long long>(kSteps), kStep,
              static_cast<long long>(kGrid), static_cast<long long>(kGrid));
  std::printf("first losses:");
  for (int i = 0; i < 3; ++i) std::printf(" %.6g", served.Step());
  std::printf("; a, b after 3: %.6g, %.6g\n", served.model().physics().Value(0).item<double>(),
              served.model().physics().Value(1).item<double>());

  hybrid::bench::Timing timing;
  for (int r = 0; r < rounds; ++r) timing.ms.push_back(hybrid::bench::TimeIterations([&] { served.Step(); }, 3));
  // Multiply-adds of the closure's three convolutions per evaluation, ×4 RK4
  // stages × steps, ×3 for the forward and the input and weight gradients.
  const double macs_per_pixel = 9.0 * (kChannels * kHidden + kHidden * kHidden + kHidden * kChannels);
  const double flops = 2.0 * macs_per_pixel * kGrid * kGrid * kWindows * 4.0 * kSteps * 3.0;
  std::printf("\nms per iteration, median (min - max) of %d rounds:\n", rounds);
  std::printf("  %-12s %8.2f ms  (%.2f - %.2f); convolutions %.2f GFLOP per iteration, %.1f GFLOP/s\n", "hybridserve",
              timing.Median(), timing.Min(), timing.Max(), flops * 1e-9, flops * 1e-6 / timing.Median());
  if (torch_reference_ms > 0.0) {
    std::printf("  %-12s %8.2f ms  (fitzhugh_nagumo_training_torch.py, this machine)\n", "pytorch", torch_reference_ms);
    std::printf("\nratio (medians): hybridserve is %.2fx faster than PyTorch's RK4 loop (target >= 5)\n",
                torch_reference_ms / timing.Median());
  }
  return 0;
}
