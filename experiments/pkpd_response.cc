// Experiment 4: pharmacokinetics/pharmacodynamics with an unknown effect model.
// Truth: two-compartment PK after one oral dose (50–200 mg) plus an indirect
// response R (biomarker, baseline kin/kout = 100) whose loss the drug
// stimulates: dR/dt = kin − kout (1 + Emax C^h / (EC50^h + C^h)) R, with
// between-patient variability: CL, V1 and ka log-normal with ω = 0.25.
// Observed hourly over 24 h (all five states, 2% noise).
// The physics knows the PK structure and the response's turnover
// (dR/dt = kin − kout R) but not the drug effect, and calibrates the
// population CL and V1 from a wrong start (8 L/h, 30 L; typical 5 L/h, 50 L);
// the hybrid's MLP learns the effect. Baselines: physics-only and
// network-only, and (untrained) the true structure at the typical values,
// whose error is the floor set by between-patient variability. Held-out
// patients (new draws of CL, V1, ka and dose) measure forecast error and 90%
// interval coverage; doses of 300–500 mg (trained on 50–200) extrapolation.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <vector>

#include "experiments/experiment_common.h"
#include "solvers/hybrid/trajectory_rollout.h"

namespace hybrid::experiments {
namespace {

using solvers::Composition;
using solvers::HybridModel;
using solvers::HybridModelSpec;
using solvers::TrajectoryData;

constexpr double kDt = 1.0;     // h between observations.
constexpr int64_t kTimes = 25;  // 0, 1, …, 24 h.
constexpr int64_t kSubsteps = 4;
constexpr double kTypicalCl = 5.0, kTypicalV1 = 50.0;

// The truth's structure at the typical parameter values.
HybridModelSpec TruthSpec() {
  HybridModelSpec truth;
  truth.physics = "pkpd_two_compartment";
  truth.composition = Composition::kPhysicsOnly;
  truth.physics_options.structure = {{"response", 2}};
  truth.physics_options.initial = {{"Emax", 2.0}, {"EC50", 1.0}, {"hill", 1.5}, {"kin", 10.0}, {"kout", 0.1}};
  return truth;
}

// `n` patients, each its own member of a physics-only truth whose CL, V1 and
// ka are drawn log-normally around the typical values; one oral dose each,
// uniform in [dose_low, dose_high] mg.
TrajectoryData Patients(int64_t n, uint64_t seed, double dose_low = 50.0, double dose_high = 200.0) {
  HybridModelSpec truth = TruthSpec();
  truth.physics_options.members = n;
  truth.physics_options.trainable = {"CL", "V1", "ka"};  // Only to draw them per patient.
  truth.physics_options.member_jitter = 0.25;
  truth.physics_options.seed = seed;
  const auto model = HybridModel::Create(truth).value();
  at::Generator gen = at::detail::createCPUGenerator(seed + 1000);
  const at::Tensor dose = dose_low + (dose_high - dose_low) * at::rand({n}, gen, at::kDouble);
  at::Tensor x0 = at::zeros({n, 1, 5}, at::kDouble);
  x0.select(2, 0).select(1, 0).copy_(dose);
  x0.select(2, 4).fill_(100.0);
  at::NoGradGuard no_grad;
  const at::Tensor rest = solvers::RolloutTrajectory(*model, x0, kDt, kTimes - 1, 50).squeeze(1);  // [N, T−1, 5]
  return AddNoise({at::cat({x0, rest}, 1), kDt}, 0.02, seed + 2000);
}

struct Run {
  std::string name;
  std::string description;
  Composition composition;
  bool response_only = true;  // The network corrects dR/dt alone (the PK is trusted).
};

// The runs in the order they train.
std::vector<Run> RunTable() {
  return {
      {"physics", "physics-only: CL, V1 calibrated, turnover without drug effect", Composition::kPhysicsOnly},
      {"network", "network-only: neural ODE, MLP 5-32-32-5", Composition::kNetworkOnly},
      {"hybrid", "hybrid: CL, V1 + MLP 5-32-32-5 correcting dR/dt only (the drug effect)", Composition::kAdditive},
      {"hybrid_all_components", "ablation: the MLP corrects every component", Composition::kAdditive, false},
  };
}

TrainedRun MakeRun(const Run& run, bool smoke, const NetworkScaling& scaling) {
  TrainedRun r = NewRun(run.name, run.description, "pkpd_two_compartment", run.composition);
  HybridModelSpec& spec = r.spec;
  spec.physics_options.members = smoke ? 2 : 5;
  spec.physics_options.structure = {{"response", 1}};
  spec.physics_options.initial = {{"CL", 8.0}, {"V1", 30.0}, {"kin", 10.0}, {"kout", 0.1}};
  spec.physics_options.trainable = {"CL", "V1"};
  spec.physics_options.seed = 4;
  spec.hidden = {32, 32};
  spec.output_scale = run.composition == Composition::kNetworkOnly ? 0.1 : 0.01;
  scaling.ApplyTo(&spec);
  if (run.composition == Composition::kAdditive && run.response_only) spec.correction_components = {4};
  SetLength(&r.options, smoke, /*iterations=*/{1500, 10}, /*validate_every=*/{50, 5}, /*patience=*/8);
  SetRates(&r.options, /*theta=*/0.02, /*phi=*/3e-3, /*decay_every=*/600);
  r.options.batch_size = 64;
  r.options.window_length = 8;
  r.options.substeps = kSubsteps;
  r.options.seed = 5;
  r.objective.correction_penalty = run.composition == Composition::kAdditive ? 1e-3 : 0.0;
  return r;
}

// RMSE of one state component over the test windows' forecasts.
double ComponentRmse(const ForecastScores& s, const solvers::WindowSet& windows, int64_t component) {
  return at::sqrt((s.mean.select(2, component) - windows.targets.select(2, component)).pow(2).mean()).item<double>();
}

class PkPdResponse final : public TrainedExperiment {
 public:
  explicit PkPdResponse(bool smoke) : TrainedExperiment("pkpd_response", kDt, smoke) {}

  // Held-out patients; out of distribution: doses of 300–500 mg (training saw
  // 50–200 mg), so concentrations, and the effect's saturation, beyond
  // anything trained on.
  ExperimentData Data() override {
    ExperimentData data = SimulateData(smoke(), {{60, 6}, {15, 3}, {40, 6}, {60, 6}}, /*first_seed=*/11,
                                       [](int64_t n, uint64_t seed) { return Patients(n, seed); });
    data.ood = solvers::MakeWindows(Patients(smoke() ? 6 : 60, 15, 300.0, 500.0), 0).value();
    return data;
  }

  // Reference, not trained: the true structure at the typical values. Its
  // error is what between-patient variability alone costs a population model.
  void Start(const ExperimentData& data, ExperimentReport* report) override {
    HybridModelSpec oracle = TruthSpec();
    oracle.physics_options.members = 1;
    auto model = HybridModel::Create(oracle).value();
    const ForecastScores s = ScoreForecasts(*model, data.calibration, data.test, kDt, kSubsteps);
    const ForecastScores ood = ScoreForecasts(*model, data.calibration, *data.ood, kDt, kSubsteps);
    report->results["oracle_population_model"] = {{"test", ScoresJson(s)}, {"ood_rmse", ood.rmse}};
    report->rows.push_back({"(true structure, typical values)", Fixed(kTypicalCl, 3), "–", Fixed(kTypicalV1, 2), "–",
                            Sci(s.rmse), Sci(ComponentRmse(s, data.test, 1)), Sci(ComponentRmse(s, data.test, 4)),
                            Sci(ood.rmse), Sci(s.crps), Fixed(s.picp90), Fixed(s.picp90_conformal),
                            Sci(s.width90_conformal), "–"});
  }

  std::vector<TrainedRun> Runs(const ExperimentData& data) override {
    return MakeRuns(RunTable(), [&](const Run& run) { return MakeRun(run, smoke(), data.scaling); });
  }

  void Report(const RunOutcome& o, ExperimentReport* report) override {
    const ForecastScores& s = o.test;
    const double cl = o.Theta(1), v1 = o.Theta(2);
    const double cl_error = std::abs(cl - kTypicalCl) / kTypicalCl;
    const double v1_error = std::abs(v1 - kTypicalV1) / kTypicalV1;
    const double rmse_response = ComponentRmse(s, o.data.test, 4);
    const double rmse_central = ComponentRmse(s, o.data.test, 1);
    report->AddRun(o,
                   {{"CL", o.ThetaOrNan(cl)},
                    {"V1", o.ThetaOrNan(v1)},
                    {"CL_relative_error", o.ThetaOrNan(cl_error)},
                    {"V1_relative_error", o.ThetaOrNan(v1_error)},
                    {"rmse_response", rmse_response},
                    {"rmse_central_amount", rmse_central}},
                   {o.run.name, o.ThetaOrDash(Fixed(cl, 3)), o.ThetaOrDash(Percent(cl_error, 1)),
                    o.ThetaOrDash(Fixed(v1, 2)), o.ThetaOrDash(Percent(v1_error, 1)), Sci(s.rmse), Sci(rmse_central),
                    Sci(rmse_response), Sci(o.ood->rmse), Sci(s.crps), Fixed(s.picp90), Fixed(s.picp90_conformal),
                    Sci(s.width90_conformal), std::to_string(o.training.iterations_run)});
    const std::vector<double> lead_times = LeadTimes(kTimes - 1, kDt);
    AddSeries(&rmse_plot_, o.run.name, lead_times, s.rmse_by_lead);
    AddSeries(&coverage_plot_, o.run.name, lead_times, s.picp90_by_lead);
    AddSeries(&ood_plot_, o.run.name, lead_times, o.ood->rmse_by_lead);
  }

  std::vector<nlohmann::json> Plots() const override { return {rmse_plot_, ood_plot_, coverage_plot_}; }
  std::string Heading() const override {
    return "# PK/PD: known two-compartment PK, unknown drug effect on an indirect response\n\n"
           "Population CL and V1 (typical 5 L/h, 50 L; between-patient ω = 0.25) from a start of 8 L/h, 30 L; "
           "scores on held-out patients.\n\n";
  }
  std::vector<std::string> Columns() const override {
    return {"run",
            "CL (L/h)",
            "CL error",
            "V1 (L)",
            "V1 error",
            "RMSE",
            "RMSE A_c (mg)",
            "RMSE R",
            "OOD RMSE (300–500 mg)",
            "CRPS",
            "PICP90",
            "PICP90 conformal",
            "width90 conformal",
            "iterations"};
  }

 private:
  nlohmann::json rmse_plot_ =
      PlotPanel("held-out patients: RMSE by lead time", "hours after dose", "RMSE (mg, response units)", /*logy=*/true);
  nlohmann::json ood_plot_ =
      PlotPanel("doses 300–500 mg (out of distribution): RMSE by lead time", "hours after dose", "RMSE", /*logy=*/true);
  nlohmann::json coverage_plot_ = PlotPanel("held-out patients: PICP90 before conformal", "hours after dose", "PICP90");
};

}  // namespace

int Main(int argc, char** argv) { return RunTrainedExperiment<PkPdResponse>(argc, argv); }

}  // namespace hybrid::experiments

int main(int argc, char** argv) { return hybrid::experiments::Main(argc, argv); }
