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

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "solvers/hybrid_model.h"
#include "solvers/hybrid_trainer.h"

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

// Per-component mean and std of states [N, T, D] (network input scaling).
void ComponentStats(const at::Tensor& states, std::vector<double>* mean, std::vector<double>* std);
// Std of the finite-difference rates of the data, over all components: the scale of dx/dt.
double RateScale(const solvers::TrajectoryData& data);

// TrainHybrid with progress lines on stderr prefixed with the run's name; a
// failure is printed there too (callers just stop).
absl::StatusOr<solvers::TrainingResult> TrainLogged(const std::string& run, solvers::HybridModel& model,
                                                    const solvers::TrajectoryData& train,
                                                    const solvers::TrajectoryData& validation,
                                                    solvers::TrainerOptions options,
                                                    const solvers::ObjectiveOptions& objective);

// An empty panel of results.json's "plots" (drawn by plot.py): add
// {"label", "x", "y"} objects to its "series".
nlohmann::json PlotPanel(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                         bool logy = false);

// Markdown table: header then rows, cells already formatted.
std::string MarkdownTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);
std::string Fixed(double v, int digits = 3);
std::string Sci(double v);

// Writes <dir>/results.json and <dir>/results.md (creating dir) and echoes the table.
void WriteResults(const std::string& dir, const nlohmann::json& results, const std::string& markdown);

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

}  // namespace hybrid::experiments
