#include "experiments/experiment_common.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "server/repository/model_export.h"
#include "solvers/hybrid/trajectory_rollout.h"
#include "solvers/uncertainty/forecast_metrics.h"
#include "solvers/uncertainty/gaussian_mixture.h"

namespace hybrid::experiments {

using solvers::GaussianMixture;
using solvers::HybridModel;
using solvers::TrajectoryData;
using solvers::WindowSet;

TrajectoryData SimulateTruth(const solvers::HybridModelSpec& truth, const at::Tensor& x0, double dt, int64_t times,
                             int64_t substeps) {
  const auto model = HybridModel::Create(truth).value();
  at::NoGradGuard no_grad;
  const at::Tensor rest = solvers::RolloutTrajectory(*model, x0, dt, times - 1, substeps)[0];
  return {at::cat({x0.unsqueeze(1), rest}, 1), dt};
}

TrajectoryData AddNoise(const TrajectoryData& data, double noise, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const at::Tensor scale = data.states.flatten(0, 1).std(0);
  return {data.states + noise * scale * at::randn(data.states.sizes(), gen, data.states.scalar_type()), data.dt};
}

namespace {

// Aleatoric σ of every member's forecast: the head's, or homoscedastic per lead
// time and component from the calibration windows.
// `members` is [S·M, W, L, D] (S MC-dropout passes, sample-major).
at::Tensor MemberStd(HybridModel& model, const at::Tensor& members, const at::Tensor& noise_std) {
  if (model.has_noise_head()) {
    at::NoGradGuard no_grad;
    const int64_t m = model.members();
    const int64_t s = members.size(0) / m;
    // The head batches over members first: [M, S·W·L, D].
    const at::Tensor x = members.reshape({s, m, -1, members.size(3)}).transpose(0, 1).reshape({m, -1, members.size(3)});
    const at::Tensor log_var = model.LogVariance(x).reshape({m, s, -1, members.size(3)}).transpose(0, 1);
    return at::exp(0.5 * log_var).reshape(members.sizes());
  }
  return noise_std.expand_as(members);
}

// MC-dropout passes per forecast for models trained with dropout.
constexpr int64_t kDropoutSamples = 10;

}  // namespace

ForecastScores ScoreForecasts(HybridModel& model, const WindowSet& calibration, const WindowSet& test, double dt,
                              int64_t substeps) {
  const int64_t samples = model.spec().dropout > 0.0 ? kDropoutSamples : 1;
  const at::Tensor cal = solvers::ForecastWindows(model, calibration, dt, substeps, samples);  // [S·M, W, L, D]
  const at::Tensor members = solvers::ForecastWindows(model, test, dt, substeps, samples);
  const at::Tensor cal_error = (cal.mean(0) - calibration.targets).pow(2).mean(0);  // [L, D]
  const at::Tensor cal_spread = cal.var(0, /*unbiased=*/false).mean(0);
  const at::Tensor noise_std = at::sqrt(at::clamp_min(cal_error - cal_spread, 1e-12 * (1 + cal_error.mean())));

  const GaussianMixture cal_mixture{cal, MemberStd(model, cal, noise_std)};
  const GaussianMixture mixture{members, MemberStd(model, members, noise_std)};
  const at::Tensor y = test.targets;
  ForecastScores s;
  s.mean = mixture.Mean();
  const at::Tensor std = mixture.Std();
  s.lower = mixture.Quantile(0.05);
  s.upper = mixture.Quantile(0.95);
  s.rmse = solvers::Rmse(s.mean, y);
  s.mae = solvers::Mae(s.mean, y);
  s.r2 = solvers::RSquared(s.mean, y);
  s.nll = solvers::GaussianNll(s.mean, std, y);
  s.crps = solvers::CrpsGaussianMixture(members, mixture.stds, y);
  s.picp90 = solvers::Picp(s.lower, s.upper, y);
  s.width90 = solvers::MeanWidth(s.lower, s.upper);
  s.quantile_calibration_error =
      solvers::QuantileCalibrationError(mixture.Cdf(y), {0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95});

  // Split conformal, one scale per lead time.
  const at::Tensor cal_scores = (calibration.targets - cal_mixture.Mean()).abs() / cal_mixture.Std();
  const int64_t leads = y.size(1);
  at::Tensor scale = at::empty({leads, 1}, y.options());
  for (int64_t k = 0; k < leads; ++k) {
    scale[k][0] = solvers::SplitConformalScale(cal_scores.select(1, k), 0.9);
  }
  const at::Tensor half = scale * std;
  s.picp90_conformal = solvers::Picp(s.mean - half, s.mean + half, y);
  s.width90_conformal = solvers::MeanWidth(s.mean - half, s.mean + half);
  for (int64_t k = 0; k < leads; ++k) {
    s.rmse_by_lead.push_back(solvers::Rmse(s.mean.select(1, k), y.select(1, k)));
    s.picp90_by_lead.push_back(solvers::Picp(s.lower.select(1, k), s.upper.select(1, k), y.select(1, k)));
  }
  return s;
}

nlohmann::json ScoresJson(const ForecastScores& s) {
  return {{"rmse", s.rmse},
          {"mae", s.mae},
          {"r2", s.r2},
          {"nll", s.nll},
          {"crps", s.crps},
          {"picp90", s.picp90},
          {"width90", s.width90},
          {"picp90_conformal", s.picp90_conformal},
          {"width90_conformal", s.width90_conformal},
          {"quantile_calibration_error", s.quantile_calibration_error},
          {"rmse_by_lead", s.rmse_by_lead},
          {"picp90_by_lead", s.picp90_by_lead}};
}

nlohmann::json PlotPanel(const std::string& title, const std::string& xlabel, const std::string& ylabel, bool logy) {
  return {
      {"title", title}, {"xlabel", xlabel}, {"ylabel", ylabel}, {"logy", logy}, {"series", nlohmann::json::array()}};
}

namespace {

// Per-component mean and std of states [N, T, D] (network input scaling).
void ComponentStats(const at::Tensor& states, std::vector<double>* mean, std::vector<double>* std) {
  const at::Tensor flat = states.flatten(0, 1).to(at::kDouble);
  const at::Tensor m = flat.mean(0);
  const at::Tensor s = flat.std(0);
  mean->assign(m.data_ptr<double>(), m.data_ptr<double>() + m.numel());
  std->assign(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
}

// Std of the finite-difference rates of the data, over all components: the scale of dx/dt.
double RateScale(const TrajectoryData& data) {
  const at::Tensor rate =
      (data.states.narrow(1, 1, data.states.size(1) - 1) - data.states.narrow(1, 0, data.states.size(1) - 1)) / data.dt;
  return rate.std().item<double>();
}

// TrainHybrid with progress lines on stderr prefixed with the run's name; a
// failure is printed there too (callers just stop).
absl::StatusOr<solvers::TrainingResult> TrainLogged(const std::string& run, HybridModel& model,
                                                    const TrajectoryData& train, const TrajectoryData& validation,
                                                    solvers::TrainerOptions options,
                                                    const solvers::ObjectiveOptions& objective) {
  options.progress = [run](const solvers::TrainingProgress& p) {
    std::fprintf(stderr, "[%s] %s\n", run.c_str(), solvers::FormatProgress(p).c_str());
  };
  absl::StatusOr<solvers::TrainingResult> trained = solvers::TrainHybrid(model, train, validation, options, objective);
  if (!trained.ok())
    std::fprintf(stderr, "[%s] training failed: %s\n", run.c_str(), trained.status().ToString().c_str());
  return trained;
}

// Markdown table: header then rows, cells already formatted.
std::string MarkdownTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::string out = "|";
  std::string rule = "|";
  for (const std::string& h : header) {
    out += " " + h + " |";
    rule += "---|";
  }
  out += "\n" + rule + "\n";
  for (const auto& row : rows) {
    out += "|";
    for (const std::string& cell : row) out += " " + cell + " |";
    out += "\n";
  }
  return out;
}

// Writes <dir>/results.json and <dir>/results.md (creating dir) and echoes the table.
void WriteResults(const std::string& dir, const nlohmann::json& results, const std::string& markdown) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/results.json") << results.dump(2) << "\n";
  std::ofstream(dir + "/results.md") << markdown;
  std::cout << markdown << std::flush;
}

}  // namespace

std::string Fixed(double v, int digits) { return absl::StrFormat("%.*f", digits, v); }
std::string Sci(double v) { return absl::StrFormat("%.3e", v); }

ExperimentArgs ParseArgs(int argc, char** argv) {
  ExperimentArgs args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--smoke") {
      args.smoke = true;
    } else if (a == "--out" && i + 1 < argc) {
      args.out = argv[++i];
    } else if (a == "--threads" && i + 1 < argc) {
      args.threads = std::atoi(argv[++i]);
    } else if (a == "--only" && i + 1 < argc) {
      args.only = absl::StrSplit(argv[++i], ',', absl::SkipEmpty());
    } else {
      std::fprintf(stderr, "usage: %s [--out DIR] [--smoke] [--threads N] [--only RUN,...]\nunknown argument: %s\n",
                   argv[0], a.c_str());
      std::exit(2);
    }
  }
  if (args.threads < 1) {
    std::fprintf(stderr, "--threads must be ≥ 1\n");
    std::exit(2);
  }
  at::set_num_threads(args.threads);
  return args;
}

bool ExportForServing(const ExperimentArgs& args, const solvers::HybridModel& model, const std::string& experiment,
                      const std::string& run, const std::string& description, double validation_mse) {
  const std::string repository = args.out + "/model_repository";
  const std::string name = experiment + "_" + run;
  const absl::Status s = server::ExportModelEntry(model, repository, name, description, std::sqrt(validation_mse));
  if (!s.ok()) {
    std::fprintf(stderr, "[%s] exporting for serving failed: %s\n", run.c_str(), s.ToString().c_str());
    return false;
  }
  std::fprintf(stderr, "[%s] model-repository entry: %s/%s\n", run.c_str(), repository.c_str(), name.c_str());
  return true;
}

bool ExperimentArgs::Selected(const std::string& run) const {
  return only.empty() || std::find(only.begin(), only.end(), run) != only.end();
}

void AddSeries(nlohmann::json* panel, const std::string& label, const std::vector<double>& x,
               const std::vector<double>& y) {
  (*panel)["series"].push_back({{"label", label}, {"x", x}, {"y", y}});
}

std::vector<double> LeadTimes(int64_t count, double step) {
  std::vector<double> times;
  for (int64_t k = 1; k <= count; ++k) times.push_back(step * static_cast<double>(k));
  return times;
}

void AddTrainingCurve(nlohmann::json* panel, const std::string& label, const solvers::TrainingResult& training,
                      const std::function<double(const LoggedTheta&)>& value) {
  std::vector<double> iterations, values;
  for (const solvers::TrainingProgress& p : training.history) {
    iterations.push_back(static_cast<double>(p.iteration));
    values.push_back(value(p.theta));
  }
  AddSeries(panel, label, iterations, values);
}

std::string Percent(double fraction, int digits) { return Fixed(100 * fraction, digits) + "%"; }

ExperimentData MakeExperimentData(TrajectoryData train, TrajectoryData validation, const TrajectoryData& calibration,
                                  const TrajectoryData& test) {
  ExperimentData data{std::move(train),
                      std::move(validation),
                      solvers::MakeWindows(calibration, 0).value(),
                      solvers::MakeWindows(test, 0).value(),
                      std::nullopt,
                      {}};
  data.scaling = NetworkScaling::Of(data.train);
  return data;
}

ExperimentData SimulateData(bool smoke, const DataSizes& sizes, uint64_t first_seed,
                            const std::function<TrajectoryData(int64_t, uint64_t)>& simulate) {
  auto size = [smoke](Sized s) { return smoke ? s.smoke : s.full; };
  TrajectoryData train = simulate(size(sizes.train), first_seed);
  TrajectoryData validation = simulate(size(sizes.validation), first_seed + 1);
  const TrajectoryData calibration = simulate(size(sizes.calibration), first_seed + 2);
  const TrajectoryData test = simulate(size(sizes.test), first_seed + 3);
  return MakeExperimentData(std::move(train), std::move(validation), calibration, test);
}

NetworkScaling NetworkScaling::Of(const TrajectoryData& train) {
  NetworkScaling s;
  ComponentStats(train.states, &s.center, &s.scale);
  s.gain = RateScale(train);
  return s;
}

void NetworkScaling::ApplyTo(solvers::HybridModelSpec* spec) const {
  spec->input_center = center;
  spec->input_scale = scale;
  spec->output_gain = gain;
}

void SetLength(solvers::TrainerOptions* options, bool smoke, Sized iterations, Sized validate_every, int64_t patience) {
  options->iterations = smoke ? iterations.smoke : iterations.full;
  options->validate_every = smoke ? validate_every.smoke : validate_every.full;
  options->patience = patience;
}

void SetRates(solvers::TrainerOptions* options, double theta, double phi, int64_t decay_every) {
  options->learning_rate_theta = theta;
  options->learning_rate_phi = phi;
  options->lr_decay_every = decay_every;
  options->lr_decay_factor = 0.3;
}

TrainedRun NewRun(const std::string& name, const std::string& description, const std::string& physics,
                  solvers::Composition composition) {
  TrainedRun run{name, description, {}, {}, {}};
  run.spec.physics = physics;
  run.spec.composition = composition;
  return run;
}

bool RunOutcome::UsesTheta() const { return run.spec.composition != solvers::Composition::kNetworkOnly; }
double RunOutcome::Theta(size_t index) const { return model.physics().Value(index).mean().item<double>(); }
double RunOutcome::ThetaOrNan(double value) const { return UsesTheta() ? value : NAN; }
std::string RunOutcome::ThetaOrDash(const std::string& cell) const { return UsesTheta() ? cell : "–"; }

void ExperimentReport::AddRun(const RunOutcome& outcome, const nlohmann::json& fields, std::vector<std::string> row) {
  nlohmann::json run = {{"name", outcome.run.name},
                        {"description", outcome.run.description},
                        {"best_validation_mse", outcome.training.best_validation_mse},
                        {"iterations", outcome.training.iterations_run},
                        {"seconds_per_iteration", outcome.training.seconds_per_iteration},
                        {"test", ScoresJson(outcome.test)}};
  if (outcome.ood) run["ood"] = ScoresJson(*outcome.ood);
  run.update(fields);
  results["runs"].push_back(std::move(run));
  rows.push_back(std::move(row));
}

ExperimentReport StartReport(const ExperimentArgs& args, const std::string& experiment) {
  ExperimentReport report;
  report.results = {{"experiment", experiment}, {"smoke", args.smoke}, {"runs", nlohmann::json::array()}};
  return report;
}

void FinishReport(const ExperimentArgs& args, ExperimentReport report, std::vector<nlohmann::json> plots,
                  const std::string& heading, const std::vector<std::string>& header, const std::string& footer) {
  report.results["plots"] = std::move(plots);
  WriteResults(args.out, report.results, heading + MarkdownTable(header, report.rows) + footer);
}

TrainedExperiment::TrainedExperiment(std::string name, double dt, bool smoke)
    : name_(std::move(name)), dt_(dt), smoke_(smoke) {}

void TrainedExperiment::Start(const ExperimentData&, ExperimentReport*) {}

namespace {

// One run of RunTrainedExperiment; false (already printed) if training or export failed.
bool TrainAndScore(const ExperimentArgs& args, TrainedExperiment& experiment, const ExperimentData& data,
                   const TrainedRun& run, ExperimentReport* report) {
  const std::shared_ptr<HybridModel> model = HybridModel::Create(run.spec).value();
  absl::StatusOr<solvers::TrainingResult> trained =
      TrainLogged(run.name, *model, data.train, data.validation, run.options, run.objective);
  if (!trained.ok()) return false;
  if (run.name == "hybrid" &&
      !ExportForServing(args, *model, experiment.name(), run.name, run.description, trained->best_validation_mse))
    return false;
  const int64_t substeps = run.options.substeps;
  RunOutcome outcome{run,
                     *model,
                     data,
                     *std::move(trained),
                     ScoreForecasts(*model, data.calibration, data.test, experiment.dt(), substeps),
                     std::nullopt};
  if (data.ood) outcome.ood = ScoreForecasts(*model, data.calibration, *data.ood, experiment.dt(), substeps);
  experiment.Report(outcome, report);
  return true;
}

}  // namespace

int RunTrainedExperiment(const ExperimentArgs& args, TrainedExperiment& experiment) {
  const ExperimentData data = experiment.Data();
  ExperimentReport report = StartReport(args, experiment.name());
  experiment.Start(data, &report);
  for (const TrainedRun& run : experiment.Runs(data)) {
    if (args.Selected(run.name) && !TrainAndScore(args, experiment, data, run, &report)) return 1;
  }
  FinishReport(args, std::move(report), experiment.Plots(), experiment.Heading(), experiment.Columns());
  return 0;
}

}  // namespace hybrid::experiments
