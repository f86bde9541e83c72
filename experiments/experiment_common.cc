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

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "server/model_export.h"
#include "solvers/forecast_metrics.h"
#include "solvers/gaussian_mixture.h"
#include "solvers/trajectory_rollout.h"

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

void ComponentStats(const at::Tensor& states, std::vector<double>* mean, std::vector<double>* std) {
  const at::Tensor flat = states.flatten(0, 1).to(at::kDouble);
  const at::Tensor m = flat.mean(0);
  const at::Tensor s = flat.std(0);
  mean->assign(m.data_ptr<double>(), m.data_ptr<double>() + m.numel());
  std->assign(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
}

double RateScale(const TrajectoryData& data) {
  const at::Tensor rate =
      (data.states.narrow(1, 1, data.states.size(1) - 1) - data.states.narrow(1, 0, data.states.size(1) - 1)) / data.dt;
  return rate.std().item<double>();
}

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

std::string Fixed(double v, int digits) { return absl::StrFormat("%.*f", digits, v); }
std::string Sci(double v) { return absl::StrFormat("%.3e", v); }

void WriteResults(const std::string& dir, const nlohmann::json& results, const std::string& markdown) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/results.json") << results.dump(2) << "\n";
  std::ofstream(dir + "/results.md") << markdown;
  std::cout << markdown << std::flush;
}

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

}  // namespace hybrid::experiments
