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

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "experiments/experiment_common.h"
#include "solvers/uncertainty/forecast_metrics.h"

namespace hybrid::experiments {
namespace {

using solvers::Composition;
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

// The runs in the order they train.
std::vector<Run> RunTable() {
  return {
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
}

TrainedRun MakeRun(const Run& run, bool smoke, const NetworkScaling& scaling) {
  TrainedRun r = NewRun(run.name, run.description, "lorenz63", run.composition);
  HybridModelSpec& spec = r.spec;
  spec.physics_options.members = smoke ? 2 : 5;
  spec.physics_options.initial = {{"sigma", 12.0}, {"rho", 22.0}};
  spec.physics_options.trainable = {"sigma", "rho"};
  spec.physics_options.structure = {{"beta_term", 0}};
  spec.physics_options.seed = 7;
  spec.hidden = {32, 32};  // The same network in every run that has one.
  spec.output_scale = run.composition == Composition::kNetworkOnly ? 0.1 : 0.01;
  scaling.ApplyTo(&spec);
  if (run.noise_head) spec.noise_hidden = {16};
  spec.dropout = run.dropout;
  SetLength(&r.options, smoke, /*iterations=*/{2000, 20}, /*validate_every=*/{100, 10}, /*patience=*/10);
  SetRates(&r.options, /*theta=*/0.02, /*phi=*/3e-3, /*decay_every=*/700);
  r.options.batch_size = 32;
  r.options.window_length = 10;
  r.options.freeze_theta = run.freeze_theta;
  r.options.seed = 1;
  r.objective.correction_penalty = run.penalty;
  return r;
}

class Lorenz63Closure final : public TrainedExperiment {
 public:
  explicit Lorenz63Closure(bool smoke)
      : TrainedExperiment("lorenz63_closure", kDt, smoke), train_sequences_(smoke ? 4 : 60), lead_(smoke ? 20 : 100) {}

  // Out of distribution: the test starts pushed twice as far from (0, 0, 25).
  ExperimentData Data() override {
    TrajectoryData train = Segments({8, 0, 30}, 5.0, train_sequences_, 100);
    TrajectoryData validation = Segments({-5, 3, 20}, 5.0, smoke() ? 2 : 10, 100);
    const TrajectoryData calibration = Segments({1, -7, 15}, 5.0, smoke() ? 4 : 40, lead_);
    const TrajectoryData test = Segments({3, 9, 35}, 5.0, smoke() ? 4 : 100, lead_);
    ExperimentData data = MakeExperimentData(std::move(train), std::move(validation), calibration, test);
    HybridModelSpec truth;
    truth.composition = Composition::kPhysicsOnly;
    const at::Tensor center = at::tensor({0.0, 0.0, 25.0}, at::kDouble);
    const at::Tensor ood_start = center + 2.0 * (data.test.start - center);
    data.ood = solvers::MakeWindows(SimulateTruth(truth, ood_start, kDt, lead_ + 1, kTruthSubsteps), 0).value();
    return data;
  }

  void Start(const ExperimentData&, ExperimentReport* report) override {
    report->results["dt"] = kDt;
    report->results["train_windows"] = train_sequences_ * 90;
  }

  std::vector<TrainedRun> Runs(const ExperimentData& data) override {
    return MakeRuns(RunTable(), [&](const Run& run) { return MakeRun(run, smoke(), data.scaling); });
  }

  void Report(const RunOutcome& o, ExperimentReport* report) override {
    const ForecastScores& test = o.test;
    const ForecastScores& ood = *o.ood;
    const double sigma = o.Theta(0), rho = o.Theta(1);
    const double theta_error = solvers::RelativeParameterError({sigma, rho}, {10.0, 28.0});
    // RMSE at a lead step (1-based), at the last lead if the forecasts are shorter (smoke runs).
    auto at_step = [](const std::vector<double>& v, size_t step) { return Sci(v[std::min(step, v.size()) - 1]); };
    report->AddRun(o,
                   {{"sigma", o.ThetaOrNan(sigma)},
                    {"rho", o.ThetaOrNan(rho)},
                    {"theta_relative_error", o.ThetaOrNan(theta_error)}},
                   {o.run.name, o.ThetaOrDash(Fixed(sigma, 3)), o.ThetaOrDash(Fixed(rho, 3)),
                    o.ThetaOrDash(Percent(theta_error, 2)), Sci(o.training.best_validation_mse),
                    at_step(test.rmse_by_lead, 1), at_step(test.rmse_by_lead, 10), at_step(test.rmse_by_lead, 100),
                    at_step(ood.rmse_by_lead, 10), at_step(ood.rmse_by_lead, 100), Sci(test.crps), Fixed(test.picp90),
                    Fixed(test.picp90_conformal), Fixed(1e3 * o.training.seconds_per_iteration, 1)});
    const std::vector<double> steps = LeadTimes(lead_, 1.0);
    AddSeries(&rmse_plot_, o.run.name, steps, test.rmse_by_lead);
    AddSeries(&coverage_plot_, o.run.name, steps, test.picp90_by_lead);
    if (o.UsesTheta() && !o.run.options.freeze_theta) {
      AddTrainingCurve(&theta_plot_, o.run.name, o.training, [](const LoggedTheta& theta) -> double {
        for (const auto& [name, value] : theta) {
          if (name == "rho") return value;
        }
        return NAN;
      });
    }
  }

  std::vector<nlohmann::json> Plots() const override { return {rmse_plot_, coverage_plot_, theta_plot_}; }
  std::string Heading() const override {
    return "# Lorenz-63 without −βz: physics vs network vs hybrid (+ ablations)\n\n";
  }
  std::vector<std::string> Columns() const override {
    return {"run",
            "σ",
            "ρ",
            "‖θ̂−θ*‖/‖θ*‖",
            "best val MSE (n=10)",
            "RMSE 1",
            "RMSE 10",
            "RMSE 100",
            "OOD RMSE 10",
            "OOD RMSE 100",
            "CRPS",
            "PICP90",
            "PICP90 conformal",
            "ms/iter"};
  }

 private:
  const int64_t train_sequences_;
  const int64_t lead_;  // Forecast steps of the calibration, test and ood windows.
  nlohmann::json rmse_plot_ = PlotPanel("test RMSE by lead time", "steps (dt = 0.01)", "RMSE", /*logy=*/true);
  nlohmann::json coverage_plot_ = PlotPanel("90% interval coverage by lead", "steps", "PICP");
  nlohmann::json theta_plot_ = PlotPanel("rho during training", "iteration", "rho (truth 28)");
};

}  // namespace

int Main(int argc, char** argv) { return RunTrainedExperiment<Lorenz63Closure>(argc, argv); }

}  // namespace hybrid::experiments

int main(int argc, char** argv) { return hybrid::experiments::Main(argc, argv); }
