// Experiment 2: the APHYNITY damped pendulum (Yin et al., ICLR 2021). Truth
// d²θ/dt² + ω0² sin θ + α dθ/dt = 0 with ω0 = 2π/12, α = 0.2; sequences over
// horizon 20 observed every dt = 0.5 from initial states of radius 1.3–2.3.
// The physics has no damping (α = 0, fixed) and calibrates ω0 alone; the
// hybrid adds an MLP closure with APHYNITY's objective ‖F_a‖² + λ·L_traj
// (λ ← λ + τ·L_traj). Baselines: physics-only and network-only; ablation:
// the hybrid without the ‖F_a‖² penalty (identifiability).
// Published: APHYNITY ω0 error 4.0%, log MSE −7.86; physics-only 13.2%.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdio>

#include "experiments/experiment_common.h"

namespace hybrid::experiments {
namespace {

using solvers::Composition;
using solvers::HybridModel;
using solvers::HybridModelSpec;
using solvers::TrajectoryData;

constexpr double kDt = 0.5;
const double kOmega0 = 2.0 * M_PI / 12.0;

TrajectoryData Pendulums(int64_t n, int64_t times, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const at::Tensor radius = 1.3 + at::rand({n}, gen, at::kDouble);
  const at::Tensor angle = 2.0 * M_PI * at::rand({n}, gen, at::kDouble);
  const at::Tensor x0 = at::stack({radius * at::cos(angle), radius * at::sin(angle)}, 1);
  HybridModelSpec truth;
  truth.physics = "damped_pendulum";
  truth.composition = Composition::kPhysicsOnly;
  return SimulateTruth(truth, x0, kDt, times, 50);
}

struct Run {
  std::string name;
  std::string description;
  Composition composition;
  double penalty;
};

}  // namespace

int Main(int argc, char** argv) {
  const ExperimentArgs args = ParseArgs(argc, argv);
  const bool smoke = args.smoke;
  const int64_t times = 41;  // 0, 0.5, …, 20
  const TrajectoryData train = Pendulums(smoke ? 5 : 25, times, 1);
  const TrajectoryData validation = Pendulums(smoke ? 3 : 10, times, 2);
  const TrajectoryData calibration = Pendulums(smoke ? 5 : 25, times, 3);
  const TrajectoryData test = Pendulums(smoke ? 5 : 25, times, 4);
  const solvers::WindowSet calibration_windows = solvers::MakeWindows(calibration, 0).value();
  const solvers::WindowSet test_windows = solvers::MakeWindows(test, 0).value();
  std::vector<double> mean, scale;
  ComponentStats(train.states, &mean, &scale);
  const double rate_scale = RateScale(train);

  const std::vector<Run> runs = {
      {"physics", "physics-only: ω0 calibrated, no damping", Composition::kPhysicsOnly, 0.0},
      {"network", "network-only: neural ODE, MLP 2-64-64-2", Composition::kNetworkOnly, 0.0},
      {"hybrid", "APHYNITY: ω0 + MLP closure, ‖F_a‖² + λ·L_traj", Composition::kAdditive, 1.0},
      {"hybrid_no_penalty", "ablation: no ‖F_a‖² penalty", Composition::kAdditive, 0.0},
  };
  nlohmann::json results = {{"experiment", "damped_pendulum"}, {"smoke", smoke}, {"runs", nlohmann::json::array()}};
  nlohmann::json rmse_plot = PlotPanel("test RMSE by lead time", "t", "RMSE", /*logy=*/true);
  nlohmann::json omega_plot = PlotPanel("omega0 during training", "iteration", "omega0 (truth 0.5236)");
  std::vector<double> lead_times;
  for (int64_t k = 1; k < times; ++k) lead_times.push_back(kDt * static_cast<double>(k));
  std::vector<std::vector<std::string>> rows;
  for (const Run& run : runs) {
    if (!args.Selected(run.name)) continue;
    HybridModelSpec spec;
    spec.physics = "damped_pendulum";
    spec.composition = run.composition;
    spec.physics_options.members = smoke ? 2 : 5;
    spec.physics_options.initial = {{"omega0", 0.4}, {"alpha", 0.0}};
    spec.physics_options.trainable = {"omega0"};
    spec.physics_options.seed = 3;
    spec.hidden = {64, 64};
    spec.output_scale = run.composition == Composition::kNetworkOnly ? 0.1 : 0.01;
    spec.input_center = mean;
    spec.input_scale = scale;
    spec.output_gain = rate_scale;
    auto model = HybridModel::Create(spec).value();
    solvers::TrainerOptions options;
    options.iterations = smoke ? 10 : 1000;
    options.batch_size = 64;
    // Windows of 5 time units rather than APHYNITY's whole 20-unit sequences:
    // over 20 units the trajectory loss of ω0 has local minima at aliased
    // frequencies (physics-only settled at ω0 ≈ 1.24 from 0.4), and short
    // windows are also 4× cheaper per step. Forecasts are still scored over
    // the whole horizon.
    options.window_length = 10;
    options.substeps = 5;
    options.learning_rate_theta = 0.01;
    options.learning_rate_phi = 1e-3;
    options.lr_decay_every = 400;
    options.lr_decay_factor = 0.3;
    options.validate_every = smoke ? 5 : 50;
    options.patience = 8;
    options.seed = 2;
    solvers::ObjectiveOptions objective;
    objective.correction_penalty = run.penalty;
    objective.adaptive_weight = run.penalty > 0.0;
    objective.lambda_initial = 1.0;
    objective.lambda_tau = 1.0;
    absl::StatusOr<solvers::TrainingResult> trained =
        TrainLogged(run.name, *model, train, validation, options, objective);
    if (!trained.ok()) return 1;
    if (run.name == "hybrid" &&
        !ExportForServing(args, *model, "damped_pendulum", run.name, run.description, trained->best_validation_mse))
      return 1;
    const ForecastScores s = ScoreForecasts(*model, calibration_windows, test_windows, kDt, options.substeps);
    const bool uses_theta = run.composition != Composition::kNetworkOnly;
    const double omega0 = model->physics().Value(0).mean().item<double>();
    const double error = std::abs(omega0 - kOmega0) / kOmega0;
    const double log_mse = std::log(s.rmse * s.rmse);
    results["runs"].push_back({{"name", run.name},
                               {"description", run.description},
                               {"omega0", uses_theta ? omega0 : NAN},
                               {"omega0_relative_error", uses_theta ? error : NAN},
                               {"log_mse", log_mse},
                               {"best_validation_mse", trained->best_validation_mse},
                               {"iterations", trained->iterations_run},
                               {"seconds_per_iteration", trained->seconds_per_iteration},
                               {"test", ScoresJson(s)}});
    rows.push_back({run.name, uses_theta ? Fixed(omega0, 4) : "–", uses_theta ? Fixed(100 * error, 2) + "%" : "–",
                    Fixed(log_mse, 2), Sci(s.rmse), Sci(s.crps), Fixed(s.picp90), Fixed(s.picp90_conformal),
                    Fixed(s.width90_conformal), std::to_string(trained->iterations_run)});
    rmse_plot["series"].push_back({{"label", run.name}, {"x", lead_times}, {"y", s.rmse_by_lead}});
    if (uses_theta) {
      std::vector<double> its, values;
      for (const auto& p : trained->history) {
        its.push_back(static_cast<double>(p.iteration));
        values.push_back(p.theta.empty() ? NAN : p.theta[0].second);
      }
      omega_plot["series"].push_back({{"label", run.name}, {"x", its}, {"y", values}});
    }
  }
  results["plots"] = {rmse_plot, omega_plot};
  const std::string markdown =
      "# Damped pendulum (APHYNITY): ω0 with the damping term missing\n\n"
      "Published: APHYNITY ω0 error 4.0%, log MSE −7.86; physics-only 13.2%.\n\n" +
      MarkdownTable({"run", "ω0", "ω0 error", "ln MSE", "RMSE", "CRPS", "PICP90", "PICP90 conformal",
                     "width90 conformal", "iterations"},
                    rows);
  WriteResults(args.out, results, markdown);
  return 0;
}

}  // namespace hybrid::experiments

int main(int argc, char** argv) { return hybrid::experiments::Main(argc, argv); }
