// Experiment 3 (+ ablation 5 on it): Lorenz-63 whose physics omits −βz, as in
// the online-calibration literature (Ouala et al., arXiv 2311.10665). Truth
// σ = 10, ρ = 28, β = 8/3 from x0 = [8, 0, 30] after 5 time units of spin-up,
// 60 time units at dt = 0.01 for training (windows of n = 10 steps).
// Compared: physics-only (σ, ρ calibrated), network-only (neural ODE) and the
// additive hybrid (σ, ρ + MLP closure), then ablations of the hybrid: frozen θ,
// serial, parallel, no ‖g‖² penalty, heteroscedastic head, MC dropout.
// Scores: RMSE at 1, 10, 100 steps on held-out trajectories and from
// out-of-distribution initial states; relative error of (σ, ρ); CRPS and 90%
// interval coverage (ScoreForecasts' protocol).
#include <ATen/ATen.h>

#include <cstdio>

#include "experiments/experiment_common.h"
#include "solvers/forecast_metrics.h"

namespace hybrid::experiments {
namespace {

using solvers::Composition;
using solvers::HybridModel;
using solvers::HybridModelSpec;
using solvers::TrajectoryData;
using solvers::WindowSet;

constexpr double kDt = 0.01;
constexpr int64_t kTruthSubsteps = 10;

// One long trajectory from x0 after `spinup` time units, cut into sequences of
// `length` + 1 observations that share their end points.
TrajectoryData Segments(const std::vector<double>& x0, double spinup, int64_t sequences, int64_t length) {
  HybridModelSpec truth;
  truth.composition = Composition::kPhysicsOnly;
  const auto spin = static_cast<int64_t>(spinup / kDt);
  const at::Tensor start = at::tensor(x0, at::kDouble).view({1, 3});
  const TrajectoryData warm = SimulateTruth(truth, start, kDt, spin + 1, kTruthSubsteps);
  const TrajectoryData run =
      SimulateTruth(truth, warm.states.select(1, spin), kDt, sequences * length + 1, kTruthSubsteps);
  const at::Tensor points = run.states[0];
  return {points.unfold(0, length + 1, length).permute({0, 2, 1}).contiguous(), kDt};
}

struct Run {
  std::string name;
  std::string description;
  Composition composition = Composition::kAdditive;
  bool freeze_theta = false;
  double penalty = 1e-5;
  bool noise_head = false;
  double dropout = 0.0;
};

struct Outcome {
  Run run;
  solvers::TrainingResult training;
  ForecastScores test;
  ForecastScores ood;
  double sigma = 0, rho = 0;
};

}  // namespace

int Main(int argc, char** argv) {
  const ExperimentArgs args = ParseArgs(argc, argv);
  const bool smoke = args.smoke;
  const int64_t train_sequences = smoke ? 4 : 60;
  const int64_t lead = smoke ? 20 : 100;
  const TrajectoryData train = Segments({8, 0, 30}, 5.0, train_sequences, 100);
  const TrajectoryData validation = Segments({-5, 3, 20}, 5.0, smoke ? 2 : 10, 100);
  const TrajectoryData calibration = Segments({1, -7, 15}, 5.0, smoke ? 4 : 40, lead);
  const TrajectoryData test = Segments({3, 9, 35}, 5.0, smoke ? 4 : 100, lead);
  const WindowSet calibration_windows = solvers::MakeWindows(calibration, 0).value();
  const WindowSet test_windows = solvers::MakeWindows(test, 0).value();
  // Out of distribution: test starts pushed twice as far from (0, 0, 25).
  HybridModelSpec truth;
  truth.composition = Composition::kPhysicsOnly;
  const at::Tensor center = at::tensor({0.0, 0.0, 25.0}, at::kDouble);
  const at::Tensor ood_start = center + 2.0 * (test_windows.start - center);
  const TrajectoryData ood = SimulateTruth(truth, ood_start, kDt, lead + 1, kTruthSubsteps);
  const WindowSet ood_windows = solvers::MakeWindows(ood, 0).value();

  std::vector<double> mean, scale;
  ComponentStats(train.states, &mean, &scale);
  const double rate_scale = RateScale(train);

  std::vector<Run> runs = {
      {"physics", "physics-only: σ, ρ calibrated, −βz missing", Composition::kPhysicsOnly},
      {"network", "network-only: neural ODE, MLP 3-32-32-3", Composition::kNetworkOnly},
      {"hybrid", "additive hybrid: σ, ρ + MLP 3-32-32-3 closure, ‖g‖² penalty 1e-5", Composition::kAdditive},
      {"hybrid_frozen_theta", "ablation: θ frozen at σ = 12, ρ = 22", Composition::kAdditive, true},
      {"hybrid_serial", "ablation: serial composition u + g(u)", Composition::kSerial},
      {"hybrid_parallel", "ablation: parallel α f + (1 − α) g", Composition::kParallel},
      {"hybrid_no_penalty", "ablation: no ‖g‖² penalty", Composition::kAdditive, false, 0.0},
      {"hybrid_noise_head", "ablation: + heteroscedastic head (NLL)", Composition::kAdditive, false, 1e-5, true},
      {"hybrid_mc_dropout", "ablation: + dropout 0.05, 10 MC-dropout passes", Composition::kAdditive, false, 1e-5,
       false, 0.05},
  };
  std::vector<Outcome> outcomes;
  for (const Run& run : runs) {
    if (!args.Selected(run.name)) continue;
    HybridModelSpec spec;
    spec.composition = run.composition;
    spec.physics_options.members = smoke ? 2 : 5;
    spec.physics_options.initial = {{"sigma", 12.0}, {"rho", 22.0}};
    spec.physics_options.trainable = {"sigma", "rho"};
    spec.physics_options.structure = {{"beta_term", 0}};
    spec.physics_options.seed = 7;
    spec.hidden = {32, 32};  // The same network in every run that has one.
    spec.output_scale = run.composition == Composition::kNetworkOnly ? 0.1 : 0.01;
    spec.input_center = mean;
    spec.input_scale = scale;
    spec.output_gain = rate_scale;
    if (run.noise_head) spec.noise_hidden = {16};
    spec.dropout = run.dropout;
    auto model = HybridModel::Create(spec).value();

    solvers::TrainerOptions options;
    options.iterations = smoke ? 20 : 2000;
    options.batch_size = 32;
    options.window_length = 10;
    options.learning_rate_theta = 0.02;
    options.learning_rate_phi = 3e-3;
    options.lr_decay_every = 700;
    options.lr_decay_factor = 0.3;
    options.validate_every = smoke ? 10 : 100;
    options.patience = 10;
    options.freeze_theta = run.freeze_theta;
    options.seed = 1;
    solvers::ObjectiveOptions objective;
    objective.correction_penalty = run.penalty;
    absl::StatusOr<solvers::TrainingResult> trained =
        TrainLogged(run.name, *model, train, validation, options, objective);
    if (!trained.ok()) return 1;
    if (run.name == "hybrid" &&
        !ExportForServing(args, *model, "lorenz63_closure", run.name, run.description, trained->best_validation_mse))
      return 1;
    Outcome o{run, *trained, ScoreForecasts(*model, calibration_windows, test_windows, kDt, 1),
              ScoreForecasts(*model, calibration_windows, ood_windows, kDt, 1)};
    o.sigma = model->physics().Value(0).mean().item<double>();
    o.rho = model->physics().Value(1).mean().item<double>();
    outcomes.push_back(std::move(o));
  }

  nlohmann::json results = {{"experiment", "lorenz63_closure"},
                            {"smoke", smoke},
                            {"dt", kDt},
                            {"train_windows", train_sequences * 90},
                            {"runs", nlohmann::json::array()}};
  std::vector<std::vector<std::string>> rows;
  nlohmann::json rmse_plot = PlotPanel("test RMSE by lead time", "steps (dt = 0.01)", "RMSE", /*logy=*/true);
  nlohmann::json coverage_plot = PlotPanel("90% interval coverage by lead", "steps", "PICP");
  nlohmann::json theta_plot = PlotPanel("rho during training", "iteration", "rho (truth 28)");
  std::vector<double> steps;
  for (int64_t k = 1; k <= lead; ++k) steps.push_back(static_cast<double>(k));
  auto at_step = [](const std::vector<double>& v, size_t step) { return v[std::min(step, v.size()) - 1]; };
  for (const Outcome& o : outcomes) {
    const bool uses_theta = o.run.composition != Composition::kNetworkOnly;
    const double theta_error = solvers::RelativeParameterError({o.sigma, o.rho}, {10.0, 28.0});
    results["runs"].push_back({{"name", o.run.name},
                               {"description", o.run.description},
                               {"sigma", uses_theta ? o.sigma : NAN},
                               {"rho", uses_theta ? o.rho : NAN},
                               {"theta_relative_error", uses_theta ? theta_error : NAN},
                               {"best_validation_mse", o.training.best_validation_mse},
                               {"iterations", o.training.iterations_run},
                               {"seconds_per_iteration", o.training.seconds_per_iteration},
                               {"test", ScoresJson(o.test)},
                               {"ood", ScoresJson(o.ood)}});
    rows.push_back({o.run.name, uses_theta ? Fixed(o.sigma, 3) : "–", uses_theta ? Fixed(o.rho, 3) : "–",
                    uses_theta ? Fixed(100 * theta_error, 2) + "%" : "–", Sci(o.training.best_validation_mse),
                    Sci(at_step(o.test.rmse_by_lead, 1)), Sci(at_step(o.test.rmse_by_lead, 10)),
                    Sci(at_step(o.test.rmse_by_lead, 100)), Sci(at_step(o.ood.rmse_by_lead, 10)),
                    Sci(at_step(o.ood.rmse_by_lead, 100)), Sci(o.test.crps), Fixed(o.test.picp90),
                    Fixed(o.test.picp90_conformal), Fixed(1e3 * o.training.seconds_per_iteration, 1)});
    rmse_plot["series"].push_back({{"label", o.run.name}, {"x", steps}, {"y", o.test.rmse_by_lead}});
    coverage_plot["series"].push_back({{"label", o.run.name}, {"x", steps}, {"y", o.test.picp90_by_lead}});
    if (uses_theta && !o.run.freeze_theta) {
      std::vector<double> its, rhos;
      for (const auto& p : o.training.history) {
        its.push_back(static_cast<double>(p.iteration));
        for (const auto& [name, value] : p.theta) {
          if (name == "rho") rhos.push_back(value);
        }
      }
      theta_plot["series"].push_back({{"label", o.run.name}, {"x", its}, {"y", rhos}});
    }
  }
  results["plots"] = {rmse_plot, coverage_plot, theta_plot};
  const std::string markdown =
      "# Lorenz-63 without −βz: physics vs network vs hybrid (+ ablations)\n\n" +
      MarkdownTable({"run", "σ", "ρ", "‖θ̂−θ*‖/‖θ*‖", "best val MSE (n=10)", "RMSE 1", "RMSE 10", "RMSE 100",
                     "OOD RMSE 10", "OOD RMSE 100", "CRPS", "PICP90", "PICP90 conformal", "ms/iter"},
                    rows);
  WriteResults(args.out, results, markdown);
  return 0;
}

}  // namespace hybrid::experiments

int main(int argc, char** argv) { return hybrid::experiments::Main(argc, argv); }
