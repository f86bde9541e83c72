// One training iteration of a Lorenz-63 hybrid — ρ unknown (trained as log ρ),
// MLP 3-32-32-3 tanh, 64 windows × 20 RK4 steps of 0.01, float32, loss the
// MSE over every step of the windows' paths, Adam (θ 1e-2, φ 1e-3) — three
// ways, interleaved round by round in one run:
//   fused        hybridserve's training step (HybridObjective, backward,
//                ThetaPhiAdam, ClampToBounds) on the fused RK4 kernel
//   libtorch     the same step on the LibTorch expression path (spec.fused = false)
//   handwritten  the floor: the whole step written out in plain C++
//                (handwritten_lorenz63_training.h)
// and, when scripts/bench passes it, PyTorch's time for the same problem
// (lorenz63_training_torch.py: an RK4 loop over torch ops), measured just
// before on this machine. All three start from the same weights; the first
// iterations' losses are printed side by side to show they do the same work.
//
//   build/tests/training_benchmark [--rounds=15] [--torch_reference_ms=X]
//
// One LibTorch thread. Prints medians (min–max) of ms per iteration and the ratios.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "solvers/hybrid/hybrid_model.h"
#include "solvers/training/hybrid_objective.h"
#include "solvers/training/theta_phi_adam.h"
#include "tests/benchmarks/handwritten_lorenz63_training.h"
#include "tests/benchmarks/training_benchmark_support.h"

namespace {

using hybrid::bench::TimeIterations;
using hybrid::bench::Timing;
using hybrid::solvers::HybridModel;
using hybrid::solvers::HybridModelSpec;

constexpr int kWindows = 64, kSteps = 20;
constexpr double kStep = 0.01;

struct Problem {
  std::vector<float> starts;    // [W, 3]
  std::vector<float> observed;  // [W, steps, 3]
};

// The true system (ρ = 28) by RK4 in double: windows that start 0.05 apart on the attractor.
Problem MakeProblem() {
  auto field = [](const double* s, double* d) {
    d[0] = 10.0 * (s[1] - s[0]);
    d[1] = s[0] * (28.0 - s[2]) - s[1];
    d[2] = s[0] * s[1] - 8.0 / 3.0 * s[2];
  };
  auto step = [&](double* s) {
    double k1[3], k2[3], k3[3], k4[3], u[3];
    field(s, k1);
    for (int c = 0; c < 3; ++c) u[c] = s[c] + 0.5 * kStep * k1[c];
    field(u, k2);
    for (int c = 0; c < 3; ++c) u[c] = s[c] + 0.5 * kStep * k2[c];
    field(u, k3);
    for (int c = 0; c < 3; ++c) u[c] = s[c] + kStep * k3[c];
    field(u, k4);
    for (int c = 0; c < 3; ++c) s[c] += kStep / 6.0 * (k1[c] + 2 * k2[c] + 2 * k3[c] + k4[c]);
  };
  double s[3] = {1.0, 1.0, 20.0};
  for (int i = 0; i < 1000; ++i) step(s);  // Onto the attractor.
  Problem p;
  for (int w = 0; w < kWindows; ++w) {
    for (int i = 0; i < 5; ++i) step(s);
    double x[3] = {s[0], s[1], s[2]};
    for (double v : x) p.starts.push_back(static_cast<float>(v));
    for (int n = 0; n < kSteps; ++n) {
      step(x);
      for (double v : x) p.observed.push_back(static_cast<float>(v));
    }
  }
  return p;
}

std::shared_ptr<HybridModel> Model(bool fused) {
  HybridModelSpec spec;
  spec.physics_options.initial = {{"rho", 20.0}};
  spec.physics_options.trainable = {"rho"};
  spec.physics_options.dtype = at::kFloat;
  spec.physics_options.seed = 1;
  spec.hidden = {32, 32};
  spec.fused = fused;
  return HybridModel::Create(spec).value();
}

// hybridserve's training step (hybrid_trainer.cc's TrainingStep without its finiteness checks).
class ServedTraining {
 public:
  ServedTraining(bool fused, const Problem& p)
      : model_(Model(fused)),
        objective_(hybrid::solvers::HybridObjective::Create(*model_, {}).value()),
        adam_(hybrid::solvers::MakeThetaPhiAdam(*model_, 1e-2, 1e-3)),
        x0_(at::from_blob(const_cast<float*>(p.starts.data()), {1, kWindows, 3}, at::kFloat).clone()),
        y_(at::from_blob(const_cast<float*>(p.observed.data()), {1, kWindows, kSteps, 3}, at::kFloat).clone()) {
    model_->train(true);
  }
  float Step() {
    adam_->zero_grad();
    hybrid::solvers::ObjectiveTerms terms = objective_.Evaluate(*model_, x0_, y_, kStep, 1);
    terms.total.backward();
    adam_->step();
    model_->physics().ClampToBounds();
    objective_.AfterStep(terms);
    return static_cast<float>(terms.data);
  }
  const HybridModel& model() const { return *model_; }

 private:
  std::shared_ptr<HybridModel> model_;
  hybrid::solvers::HybridObjective objective_;
  std::unique_ptr<torch::optim::Adam> adam_;
  at::Tensor x0_, y_;
};

hybrid::bench::HandwrittenParameters ParametersOf(const HybridModel& model) {
  std::vector<std::vector<float>> tensors;
  for (const at::Tensor& t : model.PhiParameters()) {
    const at::Tensor c = t.detach().contiguous();
    tensors.emplace_back(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }
  // MemberMlp registers w0, b0, w1, b1, w2, b2.
  hybrid::bench::HandwrittenParameters p{tensors[0], tensors[1], tensors[2], tensors[3], tensors[4], tensors[5], 0.0f};
  p.log_rho = std::log(model.physics().Value(1).item<float>());
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(1);
  const std::optional<hybrid::bench::BenchmarkOptions> options =
      hybrid::bench::ParseBenchmarkOptions(argc, argv, "training_benchmark", 15);
  if (!options) return 2;
  const int rounds = options->rounds;
  const double torch_reference_ms = options->torch_reference_ms;
  const Problem problem = MakeProblem();
  ServedTraining fused(true, problem), libtorch(false, problem);
  hybrid::bench::HandwrittenLorenz63Training handwritten(ParametersOf(fused.model()), kWindows, kSteps,
                                                         static_cast<float>(kStep), 1e-2f, 1e-3f);
  std::printf("Lorenz-63 hybrid training, %d windows x %d RK4 steps, MLP 3-32-32-3, float32, Adam\n", kWindows, kSteps);
  std::printf("first losses   fused        libtorch     handwritten\n");
  for (int i = 0; i < 5; ++i) {
    const float a = fused.Step(), b = libtorch.Step();
    const float c = handwritten.Step(problem.starts.data(), problem.observed.data());
    std::printf("  iteration %d  %-12.6g %-12.6g %-12.6g\n", i + 1, a, b, c);
  }
  std::printf("rho after 5:   %-12.6g %-12.6g %-12.6g\n", fused.model().physics().Value(1).item<double>(),
              libtorch.model().physics().Value(1).item<double>(), std::exp(handwritten.parameters().log_rho));

  Timing t_fused, t_libtorch, t_handwritten;
  for (int r = 0; r < rounds; ++r) {
    t_fused.ms.push_back(TimeIterations([&] { fused.Step(); }, 20));
    t_libtorch.ms.push_back(TimeIterations([&] { libtorch.Step(); }, 5));
    t_handwritten.ms.push_back(
        TimeIterations([&] { handwritten.Step(problem.starts.data(), problem.observed.data()); }, 20));
  }
  auto row = [](const char* name, const Timing& t) {
    std::printf("  %-12s %8.3f ms  (%.3f - %.3f)\n", name, t.Median(), t.Min(), t.Max());
  };
  std::printf("\nms per iteration, median (min - max) of %d interleaved rounds:\n", rounds);
  row("fused", t_fused);
  row("libtorch", t_libtorch);
  row("handwritten", t_handwritten);
  if (torch_reference_ms > 0.0)
    std::printf("  %-12s %8.3f ms  (lorenz63_training_torch.py, this machine)\n", "pytorch", torch_reference_ms);
  std::printf("\nratios (medians):\n");
  std::printf("  fused is %.2fx faster than the LibTorch expression path\n", t_libtorch.Median() / t_fused.Median());
  std::printf("  fused takes %.2fx the hand-written floor's time (target <= 1.5)\n",
              t_fused.Median() / t_handwritten.Median());
  if (torch_reference_ms > 0.0) {
    std::printf("  fused is %.2fx faster than PyTorch's RK4 loop (target >= 10)\n",
                torch_reference_ms / t_fused.Median());
  }
  return 0;
}
