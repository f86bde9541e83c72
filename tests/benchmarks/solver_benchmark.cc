// Solver throughput: RK4 steps per second for each catalog model at B = 1 and
// B = 1024 trajectories, forward (inference mode) and forward + backward,
// next to a plain C++ (no LibTorch) RK4 of Lorenz-63 measured in the same run;
// and the same Lorenz-63 written as TorchScript (a user's module, served as
// PHYSICS_KIND_TORCHSCRIPT), run as the server runs it (script_checks.h).
// Prints Google Benchmark's table, then the ratios that matter.
//
//   build/tests/solver_benchmark                        # full run (scripts/bench)
//   build/tests/solver_benchmark --benchmark_min_time=0.001 --benchmark_filter='/1$'   # smoke
//
// One LibTorch thread, like the baseline: ratios compare the same hardware use.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/tensorexpr/kernel.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "solvers/hybrid/hybrid_model.h"
#include "solvers/integrate/ode_solver.h"
#include "tests/solvers/torchscript/scripted_modules.h"

namespace {

using hybrid::solvers::HybridModel;
using hybrid::solvers::ClassicRk4;
using hybrid::solvers::HybridModelSpec;
using hybrid::solvers::IntegrateFixed;

// --- Plain C++ baseline: Lorenz-63, structure of arrays, RK4 -------------------

void Lorenz63Derivative(const std::vector<double>& s, std::vector<double>& d, size_t b) {
  const double *x = s.data(), *y = x + b, *z = y + b;
  double *dx = d.data(), *dy = dx + b, *dz = dy + b;
  for (size_t i = 0; i < b; ++i) {
    dx[i] = 10.0 * (y[i] - x[i]);
    dy[i] = x[i] * (28.0 - z[i]) - y[i];
    dz[i] = x[i] * y[i] - (8.0 / 3.0) * z[i];
  }
}

void BM_PlainCppLorenz63(benchmark::State& state) {
  const size_t b = static_cast<size_t>(state.range(0));
  const int steps = 100;
  const double h = 0.01;
  std::vector<double> s(3 * b), k1(3 * b), k2(3 * b), k3(3 * b), k4(3 * b), tmp(3 * b);
  for (auto _ : state) {
    for (size_t i = 0; i < b; ++i) s[i] = 1.0, s[b + i] = 1.0, s[2 * b + i] = 20.0 + 1e-3 * i;
    for (int n = 0; n < steps; ++n) {
      Lorenz63Derivative(s, k1, b);
      for (size_t i = 0; i < 3 * b; ++i) tmp[i] = s[i] + 0.5 * h * k1[i];
      Lorenz63Derivative(tmp, k2, b);
      for (size_t i = 0; i < 3 * b; ++i) tmp[i] = s[i] + 0.5 * h * k2[i];
      Lorenz63Derivative(tmp, k3, b);
      for (size_t i = 0; i < 3 * b; ++i) tmp[i] = s[i] + h * k3[i];
      Lorenz63Derivative(tmp, k4, b);
      for (size_t i = 0; i < 3 * b; ++i) s[i] += h / 6.0 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
    }
    benchmark::DoNotOptimize(s.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(b) * steps);
}

// --- LibTorch: every catalog model ----------------------------------------------

struct ModelCase {
  std::string physics;
  std::map<std::string, double> structure;
  std::set<std::string> trainable;
  double step;
  int steps_forward;
  int steps_backward;  // Fewer for large fields: backprop keeps every stage.
};

// "torchscript_lorenz63": the catalog's Lorenz-63 as a TorchScript module, saved once per run.
constexpr char kScripted[] = "torchscript_lorenz63";

std::string ScriptedLorenz63File() {
  static const std::string file = [] {
    char dir[] = "/tmp/solver_benchmark.XXXXXX";
    const std::string path = std::string(mkdtemp(dir)) + "/lorenz63.pt";
    hybrid::testing::SaveScriptedModule(path, hybrid::testing::kScriptedLorenz63);
    return path;
  }();
  return file;
}

std::shared_ptr<HybridModel> Build(const ModelCase& c) {
  HybridModelSpec spec;
  spec.physics = c.physics;
  spec.physics_options.structure = c.structure;
  spec.physics_options.trainable = c.trainable;
  if (c.physics == kScripted) {
    spec.physics = "torchscript";
    spec.torchscript = {ScriptedLorenz63File(),
                        {{"x", "1"}, {"y", "1"}, {"z", "1"}},
                        {{"sigma", "1", 10.0, 1e-3, 1e3, true, ""},
                         {"rho", "1", 28.0, 1e-3, 1e3, true, ""},
                         {"beta", "1", 8.0 / 3.0, 1e-3, 1e3, true, ""}}};
  }
  return HybridModel::Create(spec).value();
}

at::Tensor Start(const HybridModel& model, int64_t b) {
  return 0.5 + 0.1 * at::rand({1, b, model.state_dim()}, at::kDouble);
}

void Forward(benchmark::State& state, const ModelCase& c) {
  auto model = Build(c);
  const at::Tensor x0 = Start(*model, state.range(0));
  c10::InferenceMode inference;
  for (auto _ : state) {
    benchmark::DoNotOptimize(IntegrateFixed(ClassicRk4(), *model, x0, 0.0, c.step, c.steps_forward));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0) * c.steps_forward);
}

void ForwardBackward(benchmark::State& state, const ModelCase& c) {
  auto model = Build(c);
  const at::Tensor x0 = Start(*model, state.range(0));
  for (auto _ : state) {
    IntegrateFixed(ClassicRk4(), *model, x0, 0.0, c.step, c.steps_backward).sum().backward();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0) * c.steps_backward);
}

const std::vector<ModelCase>& Cases() {
  static const std::vector<ModelCase> cases = {
      {"lorenz63", {}, {"sigma", "rho", "beta"}, 0.01, 100, 100},
      {"lorenz96", {{"n", 40}}, {"F"}, 0.01, 100, 100},
      {"damped_pendulum", {}, {"omega0", "alpha"}, 0.1, 100, 100},
      {"fitzhugh_nagumo", {{"grid", 32}}, {"a", "b", "k"}, 0.01, 10, 2},
      {"fisher_kpp", {{"dims", 1}, {"grid", 64}}, {"D", "r"}, 0.05, 20, 5},
      {"kuramoto_sivashinsky", {{"n", 64}}, {"nu"}, 1e-4, 20, 5},  // RK4 needs h < ~4e-4 here.
      {"pkpd_two_compartment", {}, {"ka", "CL", "V1", "Q", "V2"}, 0.1, 100, 100},
      {"disease_progression", {}, {"k_IR", "k_DP", "k1"}, 0.05, 100, 100},
      {"torchscript_lorenz63", {}, {"sigma", "rho", "beta"}, 0.01, 100, 100},
  };
  return cases;
}

// Collects steps/s per benchmark name for the ratio table.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      const auto it = run.counters.find("items_per_second");
      if (it != run.counters.end() && run.run_type == Run::RT_Iteration) rate_[run.benchmark_name()] = it->second;
    }
  }

  void PrintRatios() const {
    std::printf(
        "\nsteps/s relative to plain C++ RK4 of Lorenz-63 at the same B (measured in this run);\n"
        "D is the state size, so only lorenz63 (D = 3) does the baseline's work per step:\n");
    for (int b : {1, 1024}) {
      const std::string base = "plain_cpp/lorenz63/" + std::to_string(b);
      if (!rate_.count(base)) continue;
      std::printf("  B = %d: plain C++ %.3g steps/s\n", b, rate_.at(base));
      for (const ModelCase& c : Cases()) {
        for (const char* kind : {"forward", "forward_backward"}) {
          const std::string name = std::string(kind) + "/" + c.physics + "/" + std::to_string(b);
          if (!rate_.count(name)) continue;
          std::printf("    %-38s D = %-5lld %10.3g steps/s   plain C++ is %8.2fx faster\n", name.c_str(),
                      static_cast<long long>(Build(c)->state_dim()), rate_.at(name), rate_.at(base) / rate_.at(name));
        }
      }
    }
    std::printf("\nLorenz-63 written as TorchScript against the catalog's (LibTorch ops), same B, this run:\n");
    for (int b : {1, 1024}) {
      for (const char* kind : {"forward", "forward_backward"}) {
        const std::string catalog = std::string(kind) + "/lorenz63/" + std::to_string(b);
        const std::string name = std::string(kind) + "/" + kScripted + "/" + std::to_string(b);
        if (!rate_.count(name) || !rate_.count(catalog)) continue;
        std::printf("    %-48s %10.3g steps/s   %.2f of the catalog's speed\n", name.c_str(), rate_.at(name),
                    rate_.at(name) / rate_.at(catalog));
      }
    }
  }

 private:
  std::map<std::string, double> rate_;
};

}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(1);
  benchmark::RegisterBenchmark("plain_cpp/lorenz63", BM_PlainCppLorenz63)->Arg(1)->Arg(1024);
  for (const ModelCase& c : Cases()) {
    benchmark::RegisterBenchmark(("forward/" + c.physics).c_str(), Forward, c)->Arg(1)->Arg(1024);
    benchmark::RegisterBenchmark(("forward_backward/" + c.physics).c_str(), ForwardBackward, c)->Arg(1)->Arg(1024);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}
