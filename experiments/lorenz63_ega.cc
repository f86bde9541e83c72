// Online calibration with Euler Gradient Approximation (Ouala et al., arXiv
// 2311.10665), the paper's Lorenz-63 setting: truth σ = 10, ρ = 28, β = 8/3
// from x0 = [8, 0, 30] after 5 time units of spin-up, 60 time units at
// dt = 0.01; the physics core omits −βz; a 3→3→3→3 tanh MLP corrects it;
// windows of n = 10 steps with the MSE over the whole rollout; Adam, lr 0.01,
// batch 32, step decay ×0.1 every 100 epochs. 300 epochs (EGA_EPOCHS
// overrides; the decay stays at a third of them): the paper runs 600, but its
// learning rate is below 1e-5 after 300.
//
// Runs, all streamed through OnlineCalibrator window batch by window batch:
//   ega_static           hybrid RK4(f + g): the solver's output, gradient through x + h·g(x̄) (static EGA)
//   ega_ensemble         the same, with the physics step's Jacobian from K = 5 perturbed runs
//   exact                the same hybrid, backprop through every RK4 stage
//   blackbox_ega_static  the plain-C++ RK4 step Ψ as a black box, hybrid x ← Ψ(x) + h·g(x), static EGA
//   blackbox_ega_tlm     the same hybrid with Ψ's tangent-linear model: its exact gradient
//   offline              Ψ + h·g with g fitted beforehand to the ideal correction
//                        (x_{t+h} − Ψ(x_t))/h, never interacting with the solver
// Scores: best validation MSE over the 10-step rollout (the paper's figure),
// RMSE of long forecasts (1 and 2.5 time units) from validation states, wall
// time per epoch, and the backward-pass cost of static EGA against the exact
// graph measured on the same batch in this run.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adam.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <random>
#include <utility>

#include "experiments/experiment_common.h"
#include "solvers/black_box/native_lorenz_steps.h"
#include "solvers/calibration/gradient_rollout.h"
#include "solvers/calibration/online_calibrator.h"

namespace hybrid::experiments {
namespace {

using solvers::GradientMethod;
using solvers::HybridModel;
using solvers::HybridModelSpec;
using solvers::WindowBatch;
using Clock = std::chrono::steady_clock;

constexpr double kDt = 0.01;
constexpr int64_t kWindow = 10;  // n
constexpr int64_t kBatch = 32;
constexpr double kLearningRate = 0.01;
const std::vector<int64_t> kLongLeads = {100, 250};  // 1 and 2.5 time units.

// EGA_EPOCHS overrides the number of epochs (for longer reproductions).
int64_t EpochsFromEnv(int64_t fallback) {
  const char* v = std::getenv("EGA_EPOCHS");
  return v != nullptr && std::atoll(v) > 0 ? std::atoll(v) : fallback;
}

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

// The true trajectory [T + 1, 3] (x0 after spin-up first) by the full Lorenz-63 step.
at::Tensor Truth(int64_t spinup, int64_t steps) {
  std::shared_ptr<const solvers::BlackBoxStep> step = solvers::MakeLorenz63Step(/*beta_term=*/true);
  const std::vector<double> theta = {10.0, 28.0, 8.0 / 3.0};
  std::vector<double> x = {8.0, 0.0, 30.0}, next(3);
  if (!step->Advance(x.data(), theta.data(), kDt, spinup, next.data()).ok()) std::abort();
  at::Tensor out = at::empty({steps + 1, 3}, at::kDouble);
  x = next;
  for (int64_t t = 0; t <= steps; ++t) {
    for (int d = 0; d < 3; ++d) out[t][d] = x[d];
    if (t < steps && !step->Advance(x.data(), theta.data(), kDt, 1, next.data()).ok()) std::abort();
    x = next;
  }
  return out;
}

// Windows starting at `first`, `first` + 1, …: start [W, 3], path [W, n, 3].
WindowBatch Windows(const at::Tensor& truth, const std::vector<int64_t>& starts) {
  std::vector<at::Tensor> start, path;
  for (int64_t i : starts) {
    start.push_back(truth[i]);
    path.push_back(truth.slice(0, i + 1, i + 1 + kWindow));
  }
  WindowBatch b;
  b.start = at::stack(start);
  b.path = at::stack(path);
  b.end = b.path.select(1, -1);
  b.step = kDt;
  b.steps = kWindow;
  return b;
}

std::vector<int64_t> Range(int64_t from, int64_t to) {
  std::vector<int64_t> v(static_cast<size_t>(to - from));
  std::iota(v.begin(), v.end(), from);
  return v;
}

HybridModelSpec Spec(const std::string& physics, const at::Tensor& train_states, double gain) {
  HybridModelSpec spec;
  spec.physics = physics;
  spec.physics_options.structure = {{"beta_term", 0}};
  spec.physics_options.seed = 7;
  spec.hidden = {3, 3};
  const at::Tensor mean = train_states.mean(0), std = train_states.std(0);
  spec.input_center = {mean[0].item<double>(), mean[1].item<double>(), mean[2].item<double>()};
  spec.input_scale = {std[0].item<double>(), std[1].item<double>(), std[2].item<double>()};
  spec.output_scale = 0.1;
  spec.output_gain = gain;
  return spec;
}

// Validation MSE over the 10-step rollouts: in the data's units, and with each
// component divided by its training std (units-free; which one the paper's
// notebooks print is not documented).
struct ValidationError {
  double raw = 0, standardised = 0;
};
ValidationError Validate(const HybridModel& model, const WindowBatch& validation, const at::Tensor& scale) {
  const at::Tensor error = solvers::ForecastPath(model, validation.start, kDt, kWindow) - validation.path.unsqueeze(0);
  return {error.pow(2).mean().item<double>(), (error / scale).pow(2).mean().item<double>()};
}

struct Outcome {
  std::string name, description;
  double best_validation_mse = INFINITY;
  double best_standardised_mse = INFINITY;  // At the same epoch.
  int64_t best_epoch = 0;
  double seconds_per_epoch = 0;
  int64_t reverted_updates = 0;
  std::vector<double> validation_by_epoch{};
  std::vector<double> rmse_by_lead{};  // Long forecasts, every step up to the last lead.
};

// RMSE by lead time of forecasts from `starts` against the truth.
std::vector<double> LongForecastRmse(const HybridModel& model, const at::Tensor& truth,
                                     const std::vector<int64_t>& starts, int64_t leads) {
  std::vector<at::Tensor> x0, target;
  for (int64_t i : starts) {
    x0.push_back(truth[i]);
    target.push_back(truth.slice(0, i + 1, i + 1 + leads));
  }
  const at::Tensor forecast = solvers::ForecastPath(model, at::stack(x0), kDt, leads)[0];  // [S, L, 3]
  const at::Tensor rmse = (forecast - at::stack(target)).pow(2).mean(at::IntArrayRef{0, 2}).sqrt().contiguous();
  return std::vector<double>(rmse.data_ptr<double>(), rmse.data_ptr<double>() + rmse.numel());
}

// The epoch loop of every run: the training windows (start indices) in
// shuffled batches of 32 to `train_batch`, `before_epoch(epoch)` first, then
// validation and a progress line.
Outcome Train(const std::string& name, const std::string& description, const HybridModel& model,
              const std::vector<int64_t>& train, const WindowBatch& validation, const at::Tensor& scale, int64_t epochs,
              const std::function<void(const std::vector<int64_t>&)>& train_batch,
              const std::function<void(int64_t)>& before_epoch = nullptr) {
  Outcome o{name, description};
  std::mt19937_64 shuffle(5);
  std::vector<int64_t> order = train;
  double seconds = 0;
  int64_t iterations = 0;
  for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
    if (before_epoch) before_epoch(epoch);
    std::shuffle(order.begin(), order.end(), shuffle);
    const auto started = Clock::now();
    for (size_t b = 0; b + kBatch <= order.size(); b += kBatch, ++iterations) {
      train_batch(std::vector<int64_t>(order.begin() + static_cast<std::ptrdiff_t>(b),
                                       order.begin() + static_cast<std::ptrdiff_t>(b + kBatch)));
    }
    seconds += Seconds(started);
    const ValidationError v = Validate(model, validation, scale);
    o.validation_by_epoch.push_back(v.raw);
    if (v.raw < o.best_validation_mse) {
      o.best_validation_mse = v.raw, o.best_standardised_mse = v.standardised, o.best_epoch = epoch;
    }
    std::fprintf(stderr, "[%s] epoch %ld/%ld it %ld  validation MSE %.3e  %.2f s/epoch\n", name.c_str(),
                 static_cast<long>(epoch), static_cast<long>(epochs), static_cast<long>(iterations), v.raw,
                 seconds / static_cast<double>(epoch));
  }
  o.seconds_per_epoch = seconds / static_cast<double>(epochs);
  return o;
}

// Streams the training windows through the online calibrator.
Outcome Calibrate(const std::string& name, const std::string& description, std::shared_ptr<HybridModel> model,
                  GradientMethod method, const at::Tensor& truth, const std::vector<int64_t>& train,
                  const WindowBatch& validation, const at::Tensor& scale, int64_t epochs) {
  solvers::CalibratorOptions options;
  options.gradient.method = method;
  options.gradient.ensemble_size = 5;
  options.learning_rate_phi = kLearningRate;
  options.lr_decay = 0.1;
  options.lr_decay_every = std::max<int64_t>(1, epochs / 3) * static_cast<int64_t>(train.size() / kBatch);
  options.seed = 11;
  auto calibrator = solvers::OnlineCalibrator::Create(model, options).value();
  Outcome o = Train(name, description, *model, train, validation, scale, epochs, [&](const std::vector<int64_t>& ids) {
    (void)calibrator->Update(Windows(truth, ids));  // A rolled-back batch is counted, not fatal.
  });
  o.reverted_updates = calibrator->reverted_updates();
  return o;
}

// g fitted to the ideal correction (x_{t+h} − Ψ(x_t))/h by regression.
Outcome Offline(std::shared_ptr<HybridModel> model, const at::Tensor& truth, const std::vector<int64_t>& train,
                const WindowBatch& validation, const at::Tensor& scale, int64_t epochs) {
  const at::Tensor x = truth.unsqueeze(0);  // [1, T + 1, 3]: window starts index it directly.
  const at::Tensor ideal =
      (truth.slice(0, 1).unsqueeze(0) - solvers::PhysicsStep(*model, x.slice(1, 0, -1), kDt)) / kDt;
  torch::optim::Adam adam(model->PhiParameters(), torch::optim::AdamOptions(kLearningRate));
  const int64_t decay_every = std::max<int64_t>(1, epochs / 3);
  auto decay = [&](int64_t epoch) {
    if (epoch == 1 || (epoch - 1) % decay_every != 0) return;
    for (auto& group : adam.param_groups()) {
      auto& options = static_cast<torch::optim::AdamOptions&>(group.options());
      options.lr(options.lr() * 0.1);
    }
  };
  return Train(
      "offline", "Ψ + h·g, g regressed on the ideal correction (x_{t+h} − Ψ(x_t))/h", *model, train, validation, scale,
      epochs,
      [&](const std::vector<int64_t>& starts) {
        const at::Tensor ids = at::tensor(starts, at::kLong);
        adam.zero_grad();
        (model->Correction(x.index_select(1, ids)) - ideal.index_select(1, ids)).pow(2).mean().backward();
        adam.step();
      },
      decay);
}

struct BackwardCost {
  double forward_ms = 0, backward_ms = 0;
};

// Median forward and backward time of one batch's loss, `reps` repetitions.
BackwardCost MeasureCost(const HybridModel& model, GradientMethod method, const WindowBatch& batch, int reps) {
  at::Generator generator = at::detail::createCPUGenerator(1);
  solvers::GradientOptions gradient;
  gradient.method = method;
  std::vector<double> forward, backward;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    const at::Tensor path = solvers::RolloutPathForGradient(model, batch.start, kDt, kWindow, gradient, generator);
    const at::Tensor loss = solvers::BatchMse(path, batch);
    const auto t1 = Clock::now();
    loss.backward();
    forward.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    backward.push_back(Seconds(t1) * 1e3);
  }
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  return {median(forward), median(backward)};
}

// What every run of the experiment shares: the truth, the windows, the network's scaling.
struct Setup {
  int64_t steps = 0, train_windows = 0, epochs = 0;
  at::Tensor truth;
  std::vector<int64_t> train;        // Start indices of the training windows.
  WindowBatch validation;            // The windows after the training ones (no overlap with their states).
  std::vector<int64_t> long_starts;  // Starts of the long forecasts, in the validation range.
  at::Tensor train_states, scale;    // scale: the training states' std per component.
  double gain = 0;                   // The network's output scale: that of the data's rates.

  std::shared_ptr<HybridModel> Fresh(const std::string& physics) const {
    return HybridModel::Create(Spec(physics, train_states, gain)).value();
  }
  std::vector<double> LongRmse(const HybridModel& model) const {
    return LongForecastRmse(model, truth, long_starts, kLongLeads.back());
  }
};

Setup MakeSetup(bool smoke) {
  Setup s;
  s.steps = smoke ? 1200 : 6000;  // 60 time units.
  s.train_windows = smoke ? 256 : 5000;
  s.epochs = smoke ? 2 : EpochsFromEnv(300);
  s.truth = Truth(500, s.steps);
  s.train = Range(0, s.train_windows);
  const int64_t first_validation = s.train_windows + kWindow;
  s.validation = Windows(s.truth, Range(first_validation, s.steps - kWindow + 1));
  for (int64_t i = first_validation; i + kLongLeads.back() <= s.steps; i += smoke ? 50 : 20) s.long_starts.push_back(i);
  s.train_states = s.truth.slice(0, 0, s.train_windows + kWindow);
  s.scale = s.train_states.std(0);
  // Of the observed rates, not of the unknown correction.
  s.gain = ((s.truth.slice(0, 1) - s.truth.slice(0, 0, -1)) / kDt).std().item<double>();
  return s;
}

// The runs --only selects, in order; `exported` is blackbox_ega_static's model
// if it ran, with its own best validation MSE.
struct Calibrated {
  std::vector<Outcome> outcomes;
  std::shared_ptr<HybridModel> exported;
  double exported_validation_mse = INFINITY;
};

Calibrated CalibrateAll(const ExperimentArgs& args, const Setup& s) {
  struct Plan {
    std::string name, description, physics;
    GradientMethod method;
  };
  const std::vector<Plan> plans = {
      {"ega_static", "RK4(f + g) solver output, static EGA (∂x⁺/∂x ≈ I)", "lorenz63", GradientMethod::kEgaStatic},
      {"ega_ensemble", "RK4(f + g) solver output, Jacobian of the physics step from K = 5 perturbed runs", "lorenz63",
       GradientMethod::kEgaEnsemble},
      {"exact", "RK4(f + g), backprop through every stage", "lorenz63", GradientMethod::kBackprop},
      {"blackbox_ega_static", "black-box C++ step: Ψ(x) + h·g(x), static EGA", "lorenz63_step",
       GradientMethod::kEgaStatic},
      {"blackbox_ega_tlm", "black-box C++ step: Ψ(x) + h·g(x), Ψ's tangent-linear model (its exact gradient)",
       "lorenz63_step", GradientMethod::kEgaTlm},
  };
  Calibrated c;
  for (const Plan& p : plans) {
    if (!args.Selected(p.name)) continue;
    std::shared_ptr<HybridModel> model = s.Fresh(p.physics);
    c.outcomes.push_back(
        Calibrate(p.name, p.description, model, p.method, s.truth, s.train, s.validation, s.scale, s.epochs));
    c.outcomes.back().rmse_by_lead = s.LongRmse(*model);
    if (p.name == "blackbox_ega_static") {
      c.exported = model;
      c.exported_validation_mse = c.outcomes.back().best_validation_mse;
    }
  }
  if (args.Selected("offline")) {
    std::shared_ptr<HybridModel> model = s.Fresh("lorenz63_step");
    c.outcomes.push_back(Offline(model, s.truth, s.train, s.validation, s.scale, s.epochs));
    c.outcomes.back().rmse_by_lead = s.LongRmse(*model);
  }
  return c;
}

// Backward-pass cost on one batch, same run, same machine.
struct Costs {
  int reps = 0;
  BackwardCost ega, exact, tlm;
};

Costs MeasureCosts(const Setup& s, bool smoke) {
  const WindowBatch batch = Windows(s.truth, Range(0, kBatch));
  Costs c;
  c.reps = smoke ? 5 : 200;
  c.ega = MeasureCost(*s.Fresh("lorenz63"), GradientMethod::kEgaStatic, batch, c.reps);
  c.exact = MeasureCost(*s.Fresh("lorenz63"), GradientMethod::kBackprop, batch, c.reps);
  c.tlm = MeasureCost(*s.Fresh("lorenz63_step"), GradientMethod::kEgaTlm, batch, c.reps);
  return c;
}

void AddSettingAndCosts(const Setup& s, const Costs& c, nlohmann::json* results) {
  (*results)["dt"] = kDt;
  (*results)["window_steps"] = kWindow;
  (*results)["train_windows"] = s.train_windows;
  (*results)["epochs"] = s.epochs;
  (*results)["published_best_validation_mse"] = {{"ega_static", 2e-6}, {"ega_ensemble", 6e-6}, {"exact", 5.5e-5}};
  (*results)["backward_ms"] = {
      {"ega_static", c.ega.backward_ms}, {"exact", c.exact.backward_ms}, {"blackbox_ega_tlm", c.tlm.backward_ms}};
  (*results)["forward_ms"] = {
      {"ega_static", c.ega.forward_ms}, {"exact", c.exact.forward_ms}, {"blackbox_ega_tlm", c.tlm.forward_ms}};
  (*results)["backward_speedup_static_vs_exact"] = c.exact.backward_ms / c.ega.backward_ms;
}

void AddOutcome(const Outcome& o, ExperimentReport* report, nlohmann::json* validation_plot,
                nlohmann::json* rmse_plot) {
  nlohmann::json rmse_at = nlohmann::json::object();
  for (int64_t lead : kLongLeads) rmse_at[std::to_string(lead)] = o.rmse_by_lead[lead - 1];
  report->results["runs"].push_back({{"name", o.name},
                                     {"description", o.description},
                                     {"best_validation_mse", o.best_validation_mse},
                                     {"best_validation_mse_standardised", o.best_standardised_mse},
                                     {"best_epoch", o.best_epoch},
                                     {"final_validation_mse", o.validation_by_epoch.back()},
                                     {"rmse_at_lead", rmse_at},
                                     {"seconds_per_epoch", o.seconds_per_epoch},
                                     {"reverted_updates", o.reverted_updates}});
  report->rows.push_back({o.name, Sci(o.best_validation_mse), Sci(o.best_standardised_mse),
                          std::to_string(o.best_epoch), Sci(o.validation_by_epoch.back()),
                          Sci(o.rmse_by_lead[kLongLeads[0] - 1]), Sci(o.rmse_by_lead[kLongLeads[1] - 1]),
                          Fixed(o.seconds_per_epoch, 2), std::to_string(o.reverted_updates)});
  AddSeries(validation_plot, o.name, LeadTimes(static_cast<int64_t>(o.validation_by_epoch.size()), 1.0),
            o.validation_by_epoch);
  AddSeries(rmse_plot, o.name, LeadTimes(static_cast<int64_t>(o.rmse_by_lead.size()), 1.0), o.rmse_by_lead);
}

// The paragraph under the table: the backward-pass costs.
std::string CostsParagraph(const Costs& c) {
  return "\n\nBackward pass on one batch of 32 windows × 10 steps (median of " + std::to_string(c.reps) +
         "): static EGA " + Fixed(c.ega.backward_ms, 3) + " ms, exact RK4 graph " + Fixed(c.exact.backward_ms, 3) +
         " ms (" + Fixed(c.exact.backward_ms / c.ega.backward_ms, 1) + "× faster); forward " +
         Fixed(c.ega.forward_ms, 3) + " vs " + Fixed(c.exact.forward_ms, 3) +
         " ms. Black-box step with its tangent-linear model: backward " + Fixed(c.tlm.backward_ms, 3) + " ms.\n";
}

int Main(int argc, char** argv) {
  const ExperimentArgs args = ParseArgs(argc, argv);
  const Setup setup = MakeSetup(args.smoke);
  const Calibrated calibrated = CalibrateAll(args, setup);
  const Costs costs = MeasureCosts(setup, args.smoke);

  ExperimentReport report = StartReport(args, "lorenz63_ega");
  AddSettingAndCosts(setup, costs, &report.results);
  nlohmann::json validation_plot = PlotPanel("validation MSE (10-step rollout)", "epoch", "MSE", /*logy=*/true);
  nlohmann::json rmse_plot = PlotPanel("long forecasts from validation states", "steps (dt = 0.01)", "RMSE", true);
  for (const Outcome& o : calibrated.outcomes) AddOutcome(o, &report, &validation_plot, &rmse_plot);
  FinishReport(args, std::move(report), {validation_plot, rmse_plot},
               "# Lorenz-63 without −βz: online calibration by EGA vs exact gradients vs offline\n\n",
               {"run", "best val MSE (n=10)", "same, standardised", "best epoch", "final val MSE",
                "RMSE @1 (100 steps)", "RMSE @2.5 (250 steps)", "s/epoch", "reverted updates"},
               CostsParagraph(costs));
  if (calibrated.exported) {
    ExportForServing(args, *calibrated.exported, "lorenz63_ega", "hybrid",
                     "Lorenz-63 without -beta*z: black-box RK4 step + MLP calibrated online by static EGA",
                     calibrated.exported_validation_mse);
  }
  return 0;
}

}  // namespace
}  // namespace hybrid::experiments

int main(int argc, char** argv) { return hybrid::experiments::Main(argc, argv); }
