// What every experiment shares: simulating the truth, scoring probabilistic
// forecasts the same way for every model, and writing results (JSON for
// machines and plots, a markdown table for people).
//
// Protocol of ScoreForecasts (the same for physics-only, network-only and
// hybrid models, so that comparisons are fair):
//   1. every member forecasts every window (no grad, eval mode; a model
//      trained with dropout: 10 MC-dropout passes, each a mixture component);
//   2. each member's aleatoric σ is the heteroscedastic head's, if the model
//      has one, else a homoscedastic σ per lead time and component estimated
//      on the calibration windows as √max(MSE of the ensemble mean − mean
//      ensemble variance, tiny);
//   3. the predictive distribution is the equal-weight Gaussian mixture of the
//      members; 90% intervals are its 5% and 95% quantiles;
//   4. split conformal per lead time on the calibration windows rescales
//      mean ± s·std so that held-out coverage is ≥ 90%.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "solvers/hybrid/hybrid_model.h"
#include "solvers/training/hybrid_trainer.h"

namespace hybrid::experiments {

// Physics-only truth from x0 [N, D]: T observations (x0 first) every dt, by RK4
// with `substeps` steps per interval.
solvers::TrajectoryData SimulateTruth(const solvers::HybridModelSpec& truth, const at::Tensor& x0, double dt,
                                      int64_t times, int64_t substeps);

// Adds N(0, (noise·std of each component)²) to a copy of the states.
solvers::TrajectoryData AddNoise(const solvers::TrajectoryData& data, double noise, uint64_t seed);

struct ForecastScores {
  double rmse = 0, mae = 0, r2 = 0, nll = 0, crps = 0;
  double picp90 = 0, width90 = 0;                      // Mixture intervals.
  double picp90_conformal = 0, width90_conformal = 0;  // After split conformal.
  double quantile_calibration_error = 0;
  std::vector<double> rmse_by_lead;    // [L]
  std::vector<double> picp90_by_lead;  // [L], mixture intervals.
  at::Tensor mean, lower, upper;       // [W, L, D] of the test windows (mixture 90%).
};

ForecastScores ScoreForecasts(solvers::HybridModel& model, const solvers::WindowSet& calibration,
                              const solvers::WindowSet& test, double dt, int64_t substeps);

nlohmann::json ScoresJson(const ForecastScores& s);

// An empty panel of results.json's "plots" (drawn by plot.py): add
// {"label", "x", "y"} objects to its "series".
nlohmann::json PlotPanel(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                         bool logy = false);

// Table cells: `digits` after the point, or scientific with 3.
std::string Fixed(double v, int digits = 3);
std::string Sci(double v);

// Common flags of every experiment binary: --out DIR, --smoke, --threads N,
// --only RUN[,RUN…] (train and score only the named runs; for iterating on one).
struct ExperimentArgs {
  std::string out = "experiment-results";
  bool smoke = false;  // A tiny run that exercises every code path (the test suite's version).
  int threads = 2;
  std::vector<std::string> only;  // Empty: every run.
  bool Selected(const std::string& run) const;
};
ExperimentArgs ParseArgs(int argc, char** argv);

// Writes the trained `model` as the model-repository entry
// <out>/model_repository/<experiment>_<run>/ (config.pbtxt + checkpoint.pt),
// which `hybridserve --model_repository=<out>/model_repository` serves, with
// √validation_mse as the noise its intervals start from. Returns false (after
// printing why) on failure.
bool ExportForServing(const ExperimentArgs& args, const solvers::HybridModel& model, const std::string& experiment,
                      const std::string& run, const std::string& description, double validation_mse);

// Appends {"label", "x", "y"} to a PlotPanel's "series".
void AddSeries(nlohmann::json* panel, const std::string& label, const std::vector<double>& x,
               const std::vector<double>& y);
// step·k for k = 1 … count: the times of a forecast's leads (or 1 … count for step 1).
std::vector<double> LeadTimes(int64_t count, double step);

// The trainable θ logged at one validation, as TrainingProgress::theta.
using LoggedTheta = std::vector<std::pair<std::string, double>>;
// Appends to `panel` the series `value`(θ) against the iteration of every
// validation in `training`'s history.
void AddTrainingCurve(nlohmann::json* panel, const std::string& label, const solvers::TrainingResult& training,
                      const std::function<double(const LoggedTheta&)>& value);

// "12.34%" for fraction 0.1234 and digits 2.
std::string Percent(double fraction, int digits);

// ---------------------------------------------------------------------------
// The skeleton of an experiment that trains and compares models with
// TrainHybrid. A TrainedExperiment subclass holds what is specific to one
// experiment (its truth and data, its runs, the columns it reports);
// RunTrainedExperiment trains, exports, scores and writes every run the same way.
//
//   class Pendulum final : public TrainedExperiment {
//    public:
//     explicit Pendulum(bool smoke) : TrainedExperiment("damped_pendulum", 0.5, smoke) {}
//     ExperimentData Data() override { return MakeExperimentData(Make(1), Make(2), Make(3), Make(4)); }
//     std::vector<TrainedRun> Runs(const ExperimentData& data) override { … }
//     void Report(const RunOutcome& o, ExperimentReport* r) override { r->AddRun(o, {}, {o.run.name}); }
//     …
//   };
//   int main(int argc, char** argv) { return RunTrainedExperiment<Pendulum>(argc, argv); }

// The network scaling that every model of an experiment gets, so that models
// differ only in what the experiment compares: inputs standardised with the
// training data's per-component mean and std (ComponentStats), outputs scaled
// by the spread of its observed rates (RateScale).
struct NetworkScaling {
  std::vector<double> center, scale;
  double gain = 1.0;
  static NetworkScaling Of(const solvers::TrajectoryData& train);
  void ApplyTo(solvers::HybridModelSpec* spec) const;  // Sets input_center, input_scale, output_gain.
};

// A count that --smoke makes small: the full run's and the smoke run's.
struct Sized {
  int64_t full = 0, smoke = 0;
};

// What the runs are fitted and scored on. Calibration and test hold one window
// a sequence, from t = 0 over the whole horizon.
struct ExperimentData {
  solvers::TrajectoryData train, validation;
  solvers::WindowSet calibration, test;
  std::optional<solvers::WindowSet> ood;  // Out-of-distribution test windows, where the experiment has them.
  NetworkScaling scaling;                 // Of train.
};
ExperimentData MakeExperimentData(solvers::TrajectoryData train, solvers::TrajectoryData validation,
                                  const solvers::TrajectoryData& calibration, const solvers::TrajectoryData& test);

// The number of sequences of each set an experiment simulates.
struct DataSizes {
  Sized train, validation, calibration, test;
};
// MakeExperimentData of simulate(sequences, seed) for train, validation,
// calibration and test, in this order (that of their random draws), with seeds
// first_seed, first_seed + 1, first_seed + 2, first_seed + 3.
ExperimentData SimulateData(bool smoke, const DataSizes& sizes, uint64_t first_seed,
                            const std::function<solvers::TrajectoryData(int64_t, uint64_t)>& simulate);

// How long a run trains, the part of TrainerOptions that --smoke shrinks:
// `iterations` steps, a validation every `validate_every` of them, early
// stopping after `patience` validations without improvement.
void SetLength(solvers::TrainerOptions* options, bool smoke, Sized iterations, Sized validate_every, int64_t patience);
// Adam's rates for θ and φ, both ×0.3 every `decay_every` iterations: the step
// decay every experiment trains with.
void SetRates(solvers::TrainerOptions* options, double theta, double phi, int64_t decay_every);

// One model an experiment trains. `name` is the run's in results, in --only
// and, for the run named "hybrid", in the exported model-repository entry.
struct TrainedRun {
  std::string name, description;
  solvers::HybridModelSpec spec;
  solvers::TrainerOptions options;  // options.substeps is also the scoring's.
  solvers::ObjectiveOptions objective;
};

// A run of `physics` composed as `composition`; the rest of spec, options and
// objective at their defaults.
TrainedRun NewRun(const std::string& name, const std::string& description, const std::string& physics,
                  solvers::Composition composition);

// make(row) for every row of an experiment's table of runs, in order.
template <typename Row, typename Make>
std::vector<TrainedRun> MakeRuns(const std::vector<Row>& table, const Make& make) {
  std::vector<TrainedRun> runs;
  for (const Row& row : table) runs.push_back(make(row));
  return runs;
}

// A trained and scored run, valid during TrainedExperiment::Report only.
struct RunOutcome {
  const TrainedRun& run;
  const solvers::HybridModel& model;
  const ExperimentData& data;  // What it was trained and scored on.
  solvers::TrainingResult training;
  ForecastScores test;
  std::optional<ForecastScores> ood;  // Set iff the data have ood windows.

  // Whether the model has physics parameters (every composition but network-only).
  bool UsesTheta() const;
  // Physics parameter `index`, mean over the members.
  double Theta(size_t index) const;
  // `value` for runs with physics parameters, NaN (null in JSON) for the others.
  double ThetaOrNan(double value) const;
  // `cell` for runs with physics parameters, "–" for the others.
  std::string ThetaOrDash(const std::string& cell) const;
};

// results.json's object and results.md's table rows, filled run by run.
struct ExperimentReport {
  nlohmann::json results;  // {"experiment", "smoke", "runs": []}; experiments add their own keys.
  std::vector<std::vector<std::string>> rows;

  // Appends to "runs" the keys every trained run has (name, description,
  // best_validation_mse, iterations, seconds_per_iteration, test and, with ood
  // windows, ood) merged with `fields`, and `row` to the table.
  void AddRun(const RunOutcome& outcome, const nlohmann::json& fields, std::vector<std::string> row);
};
ExperimentReport StartReport(const ExperimentArgs& args, const std::string& experiment);

// Sets results["plots"] and writes (WriteResults) the markdown
// `heading` + MarkdownTable(header, rows) + `footer` into args.out.
void FinishReport(const ExperimentArgs& args, ExperimentReport report, std::vector<nlohmann::json> plots,
                  const std::string& heading, const std::vector<std::string>& header, const std::string& footer = "");

// What is specific to one experiment. RunTrainedExperiment calls, in order:
// Data, Start, Runs, then for each run --only selects Report, then Plots,
// Heading and Columns. Not thread-safe (one experiment per process).
class TrainedExperiment {
 public:
  // `name`: results.json's "experiment" and the exported entry's prefix;
  // `dt`: time between observations.
  TrainedExperiment(std::string name, double dt, bool smoke);
  virtual ~TrainedExperiment() = default;

  const std::string& name() const { return name_; }
  double dt() const { return dt_; }
  bool smoke() const { return smoke_; }

  virtual ExperimentData Data() = 0;
  // Experiment-wide keys of results.json and rows of runs that are not
  // trained (references); by default nothing.
  virtual void Start(const ExperimentData& data, ExperimentReport* report);
  // In the order they train: the order of their random draws.
  virtual std::vector<TrainedRun> Runs(const ExperimentData& data) = 0;
  // The run's results (ExperimentReport::AddRun) and plot series.
  virtual void Report(const RunOutcome& outcome, ExperimentReport* report) = 0;
  virtual std::vector<nlohmann::json> Plots() const = 0;  // results.json's "plots".
  virtual std::string Heading() const = 0;                // results.md above the table.
  virtual std::vector<std::string> Columns() const = 0;   // The table's header.

 private:
  std::string name_;
  double dt_;
  bool smoke_;
};

// Runs `experiment`: for every run --only selects, HybridModel::Create,
// TrainLogged, ExportForServing of the run named "hybrid" as
// <name>_hybrid, ScoreForecasts on the test then the ood windows (run.options.substeps
// per observation), Report; then results.json and results.md into args.out.
// Returns main's exit status: 1 (after printing why) at the first failed
// training or export, with nothing written; else 0.
int RunTrainedExperiment(const ExperimentArgs& args, TrainedExperiment& experiment);

// main() of an experiment binary: ParseArgs, then Experiment(args.smoke) run.
template <typename Experiment>
int RunTrainedExperiment(int argc, char** argv) {
  const ExperimentArgs args = ParseArgs(argc, argv);
  Experiment experiment(args.smoke);
  return RunTrainedExperiment(args, experiment);
}

}  // namespace hybrid::experiments
