// hybridctl: command-line client of hybridserve.
//
//   hybridctl models                      (every model of the repository, with its state)
//   hybridctl get lorenz63
//   hybridctl watch lorenz63 [--interval=1 --count=0]   (live parameters, loss, coverage)
//   hybridctl predict lorenz63 --state=1,1,20 --horizon=1 --step=0.1 --levels=0.5,0.9 [--ensemble_size=2]
//                    [--plot=forecast.png]
//   hybridctl predict pkpd --entity=patient-17 --horizon=12 --step=1 [--dose=4:oral:200,...]
//                    (from the entity's current estimate; lead times; planned inputs TIME:INPUT:VALUE)
//   hybridctl observe pkpd --from=clinic.csv   (entity,time,<observable>[,<observable>:std],<input>… columns)
//   hybridctl entities pkpd                    (every entity: clock, reports)
//   hybridctl load lorenz96 | unload lorenz96 | checkpoint lorenz63
//   hybridctl rollback lorenz63 --version=12   (a version of `get`'s checkpoint list)
//   hybridctl calibrate lorenz63 --synthetic=lorenz63 [--observations=3000 --noise=0.05]
//   hybridctl calibrate lorenz63 --from=run.csv --window_steps=10 [--time_column=t --state_columns=x,y,z]
//             (a progress bar on stderr when it is a terminal; --progress=on|off)
//   hybridctl generate --out=run.csv --samples=20000 --noise=0.05
//   hybridctl health
//   hybridctl shard lorenz63 --shards=3       (the replica K of hybridserve --shard=K/3 that owns it)
//
// Connection flags (client/connection_flags.h): --target, --timeout, --tls_ca,
// --tls_cert, --tls_key, --token_file (or HYBRIDSERVE_TOKEN).
//
// Exit status: 0 on success, 1 on an RPC or input error, 2 on bad usage,
// 3 when --max_rel_error is given and the final estimate misses it.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "base/command_line.h"
#include "base/model_shard.h"
#include "client/calibrate_session.h"
#include "client/connection_flags.h"
#include "client/forecast_plot.h"
#include "client/hybrid_client.h"
#include "client/observation_windows.h"
#include "client/progress_bar.h"
#include "client/report_csv.h"
#include "client/watch_view.h"

ABSL_FLAG(std::string, state, "", "predict: initial state, comma-separated");
ABSL_FLAG(std::string, entity, "", "predict: forecast this entity from its current estimate (instead of --state)");
ABSL_FLAG(std::string, dose, "",
          "predict --entity: planned inputs TIME:INPUT:VALUE, comma-separated (lead time, a config input, amount or "
          "rate)");
ABSL_FLAG(double, horizon, 1.0, "predict: forecast horizon");
ABSL_FLAG(double, step, 0.1, "predict: output spacing");
ABSL_FLAG(std::string, levels, "0.9", "predict: interval levels, comma-separated");
ABSL_FLAG(int, ensemble_size, 0, "predict: members to forecast with (0: all of the model's)");
ABSL_FLAG(uint64_t, version, 0, "rollback: checkpointed version to serve again");
ABSL_FLAG(std::string, synthetic, "", "calibrate: 'lorenz63' to stream simulated observations");
ABSL_FLAG(std::string, from, "",
          "calibrate: CSV file t,x1,...,xD to stream; observe: CSV of reports entity,time,<observable>,<input>... "
          "(client/report_csv.h)");
ABSL_FLAG(int64_t, observations, 3000, "calibrate --synthetic: observations to send");
ABSL_FLAG(int, windows_per_observation, 8, "calibrate: windows in one observation");
ABSL_FLAG(int, window_steps, 10, "calibrate: samples per window (RK4 steps n)");
ABSL_FLAG(double, dt, 0.01, "calibrate/generate --synthetic: sample spacing (RK4 step h)");
ABSL_FLAG(double, noise, 0.05, "calibrate/generate --synthetic: observation noise std");
ABSL_FLAG(double, true_rho, 28.0, "calibrate/generate --synthetic: ρ of the simulated system");
ABSL_FLAG(uint64_t, seed, 1, "calibrate/generate --synthetic: noise seed");
ABSL_FLAG(int64_t, report_every, 250, "calibrate: answers between progress lines");
ABSL_FLAG(std::string, progress, "auto", "calibrate: progress bar on stderr: auto (when a terminal), on, off");
ABSL_FLAG(std::string, time_column, "",
          "calibrate --from: the time column, a header name or 0-based index (default: first)");
ABSL_FLAG(std::string, state_columns, "",
          "calibrate --from: the state columns in the model's order, names or indices (default: all but time)");
ABSL_FLAG(std::string, plot, "", "predict: also draw the forecast with its intervals into this PNG (needs gnuplot)");
ABSL_FLAG(double, interval, 1.0, "watch: seconds between refreshes");
ABSL_FLAG(int64_t, count, 0, "watch: refreshes before exiting (0: until interrupted)");
ABSL_FLAG(double, forecast_horizon, 0.5, "calibrate: horizon of the Predict shown with each progress line");
ABSL_FLAG(double, max_rel_error, 0.0, "calibrate --synthetic: exit 3 unless |ρ̂−ρ|/ρ ≤ this (0: no check)");
ABSL_FLAG(std::string, out, "", "generate: CSV file to write");
ABSL_FLAG(int, shards, 1, "shard: the number of replicas the models are sharded across");
ABSL_FLAG(int64_t, samples, 20000, "generate: rows to write");

namespace {

using hybrid::client::HybridClient;
namespace v1 = hybrid::v1;

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "hybridctl: %s\n", status.ToString().c_str());
  return 1;
}

absl::StatusOr<std::vector<double>> ParseList(const std::string& text, const char* flag) {
  std::vector<double> out;
  for (absl::string_view cell : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    double v;
    if (!absl::SimpleAtod(cell, &v))
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": '", cell, "' is not a number"));
    out.push_back(v);
  }
  if (out.empty()) return absl::InvalidArgumentError(absl::StrCat("--", flag, " must not be empty"));
  return out;
}

double At(const v1::Tensor& t, size_t i) { return t.f64(static_cast<int>(i)); }

// "READY", "FAILED", …: the enum's name without its prefix.
std::string StateName(v1::ModelState state) {
  return std::string(absl::StripPrefix(v1::ModelState_Name(state), "MODEL_STATE_"));
}

int Models(HybridClient& client) {
  absl::StatusOr<v1::ListModelsResponse> r = client.ListModels();
  if (!r.ok()) return Fail(r.status());
  for (const v1::ModelSummary& m : r->models()) {
    std::printf("%-20s %-10s version %-8llu %s\n", m.name().c_str(), StateName(m.state()).c_str(),
                static_cast<unsigned long long>(m.version()),
                m.state() == v1::MODEL_STATE_FAILED ? m.reason().c_str() : m.description().c_str());
  }
  return 0;
}

int Get(HybridClient& client, const std::string& model) {
  absl::StatusOr<v1::GetModelResponse> r = client.GetModel(model);
  if (!r.ok()) return Fail(r.status());
  std::printf("model %s  %s  version %llu  observations accepted %llu\n", model.c_str(), StateName(r->state()).c_str(),
              static_cast<unsigned long long>(r->version()),
              static_cast<unsigned long long>(r->observations_accepted()));
  const v1::DurabilityStatus& d = r->durability();
  if (d.enabled()) {
    std::printf("  write-ahead log: last record %llu, %lld bytes; checkpoints (rollback targets): %s\n",
                static_cast<unsigned long long>(d.last_logged()), static_cast<long long>(d.wal_bytes()),
                d.checkpoint_versions().empty() ? "none yet" : absl::StrJoin(d.checkpoint_versions(), ", ").c_str());
  } else {
    std::printf("  durability disabled: calibration is lost on restart\n");
  }
  for (const v1::ParameterEstimate& p : r->parameters()) {
    std::printf("  %-8s = %.6g ± %.2g%s\n", p.name().c_str(), p.value(), p.std(), p.trainable() ? "  (trained)" : "");
  }
  std::printf("config:\n%s", r->config().DebugString().c_str());
  return 0;
}

absl::StatusOr<v1::PredictResponse> Forecast(HybridClient& client, const std::string& model,
                                             const std::vector<double>& state, double horizon, double step,
                                             const std::vector<double>& levels, const std::string& entity = "",
                                             const std::vector<v1::PlannedInput>& planned = {}) {
  v1::PredictRequest request;
  request.set_model(model);
  if (entity.empty()) {
    v1::Tensor* x0 = request.mutable_initial_state();
    x0->add_shape(static_cast<int64_t>(state.size()));
    x0->set_dtype(v1::DTYPE_FLOAT64);
    x0->mutable_f64()->Add(state.begin(), state.end());
  } else {
    request.set_entity(entity);
    for (const v1::PlannedInput& p : planned) *request.add_planned_inputs() = p;
  }
  request.mutable_horizon()->set_horizon(horizon);
  request.mutable_horizon()->set_step(step);
  request.mutable_interval_levels()->Add(levels.begin(), levels.end());
  request.set_ensemble_size(absl::GetFlag(FLAGS_ensemble_size));
  return client.Predict(request);
}

// --dose=TIME:INPUT:VALUE,…
absl::StatusOr<std::vector<v1::PlannedInput>> ParseDoses(const std::string& text) {
  std::vector<v1::PlannedInput> out;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    const std::vector<std::string> parts = absl::StrSplit(item, ':');
    v1::PlannedInput p;
    double time = 0.0, value = 0.0;
    if (parts.size() != 3 || !absl::SimpleAtod(parts[0], &time) || !absl::SimpleAtod(parts[2], &value)) {
      return absl::InvalidArgumentError(absl::StrCat("--dose: '", item, "' is not TIME:INPUT:VALUE"));
    }
    p.set_time(time);
    p.set_input(parts[1]);
    p.set_value(value);
    out.push_back(p);
  }
  return out;
}

int Predict(HybridClient& client, const std::string& model) {
  const std::string entity = absl::GetFlag(FLAGS_entity);
  absl::StatusOr<std::vector<double>> state = ParseList(absl::GetFlag(FLAGS_state), "state");
  if (!state.ok() && entity.empty()) return Fail(state.status());
  absl::StatusOr<std::vector<double>> levels = ParseList(absl::GetFlag(FLAGS_levels), "levels");
  if (!levels.ok()) return Fail(levels.status());
  absl::StatusOr<std::vector<v1::PlannedInput>> doses = ParseDoses(absl::GetFlag(FLAGS_dose));
  if (!doses.ok()) return Fail(doses.status());
  absl::StatusOr<v1::PredictResponse> r =
      Forecast(client, model, entity.empty() ? *state : std::vector<double>{}, absl::GetFlag(FLAGS_horizon),
               absl::GetFlag(FLAGS_step), *levels, entity, *doses);
  if (!r.ok()) return Fail(r.status());
  const size_t dim = static_cast<size_t>(r->state_components_size());
  std::printf("model %s version %llu, %d members", r->model().c_str(),
              static_cast<unsigned long long>(r->model_version()), r->ensemble_size());
  if (!entity.empty()) std::printf(", entity %s from its clock %g (times are leads)", entity.c_str(), r->start_time());
  // Cells first, so that every column is as wide as its widest cell and its
  // name (widths on screen: a cell's "±" is two bytes and one column).
  std::vector<std::vector<std::string>> cells(static_cast<size_t>(r->times_size()), std::vector<std::string>(dim));
  std::vector<size_t> width(dim);
  for (size_t d = 0; d < dim; ++d) {
    const v1::StateComponent& c = r->state_components(static_cast<int>(d));
    width[d] = absl::StrCat(c.name(), c.unit() == "1" ? "" : absl::StrCat(" [", c.unit(), "]")).size();
  }
  for (int t = 0; t < r->times_size(); ++t) {
    for (size_t d = 0; d < dim; ++d) {
      const size_t i = static_cast<size_t>(t) * dim + d;
      std::string cell = absl::StrFormat("%10.4f ± %-8.4f", At(r->mean(), i), At(r->std(), i));
      for (const v1::Interval& interval : r->intervals()) {
        absl::StrAppendFormat(&cell, " [%.0f%%: %.3f, %.3f]", 100 * interval.level(), At(interval.lower(), i),
                              At(interval.upper(), i));
      }
      width[d] = std::max(width[d], cell.size() - 1);
      cells[static_cast<size_t>(t)][d] = std::move(cell);
    }
  }
  std::printf("\n%-9s", "");
  for (size_t d = 0; d < dim; ++d) {
    const v1::StateComponent& c = r->state_components(static_cast<int>(d));
    const std::string name = absl::StrCat(c.name(), c.unit() == "1" ? "" : absl::StrCat(" [", c.unit(), "]"));
    std::printf("  %-*s", static_cast<int>(width[d]), name.c_str());
  }
  std::printf("\n");
  for (int t = 0; t < r->times_size(); ++t) {
    std::printf("t=%-7.4g", r->times(t));
    for (size_t d = 0; d < dim; ++d) {
      std::printf("  %-*s", static_cast<int>(width[d] + 1), cells[static_cast<size_t>(t)][d].c_str());
    }
    std::printf("\n");
  }
  if (const std::string plot = absl::GetFlag(FLAGS_plot); !plot.empty()) {
    if (absl::Status s = hybrid::client::PlotForecast(*r, plot); !s.ok()) return Fail(s);
    std::printf("plot: %s\n", plot.c_str());
  }
  return 0;
}

const v1::ParameterEstimate* FindParameter(const std::vector<v1::ParameterEstimate>& ps, const std::string& name) {
  for (const v1::ParameterEstimate& p : ps)
    if (p.name() == name) return &p;
  return nullptr;
}

absl::StatusOr<hybrid::client::WindowSet> LoadWindows() {
  const std::string synthetic = absl::GetFlag(FLAGS_synthetic), from = absl::GetFlag(FLAGS_from);
  if (synthetic.empty() == from.empty()) return absl::InvalidArgumentError("give exactly one of --synthetic or --from");
  if (!from.empty()) {
    hybrid::client::CsvColumns columns;
    columns.time = absl::GetFlag(FLAGS_time_column);
    columns.state = absl::StrSplit(absl::GetFlag(FLAGS_state_columns), ',', absl::SkipEmpty());
    return hybrid::client::ReadCsvWindows(from, absl::GetFlag(FLAGS_window_steps), columns);
  }
  if (synthetic != "lorenz63") return absl::InvalidArgumentError("--synthetic supports only 'lorenz63'");
  hybrid::client::Lorenz63SimulationOptions o;
  o.rho = absl::GetFlag(FLAGS_true_rho);
  o.dt = absl::GetFlag(FLAGS_dt);
  o.window_steps = absl::GetFlag(FLAGS_window_steps);
  o.noise_std = absl::GetFlag(FLAGS_noise);
  o.seed = absl::GetFlag(FLAGS_seed);
  // One spare observation's windows so that forecasts can start past the last one sent.
  o.windows = (absl::GetFlag(FLAGS_observations) + 1) * absl::GetFlag(FLAGS_windows_per_observation);
  return hybrid::client::SimulateLorenz63Windows(o);
}

// Forecast from the next unseen observation; prints the first component at the
// horizon with its 90% interval and, for simulations, the truth.
void ShowForecast(HybridClient& client, const std::string& model, const hybrid::client::WindowSet& set, int64_t window,
                  double horizon, int64_t* inside, int64_t* total) {
  if (window >= static_cast<int64_t>(set.windows.size())) return;
  const hybrid::client::Window& w = set.windows[window];
  absl::StatusOr<v1::PredictResponse> r = Forecast(client, model, w.start, horizon, horizon, {0.9});
  if (!r.ok()) {
    std::printf("    predict failed: %s\n", r.status().ToString().c_str());
    return;
  }
  const size_t last = static_cast<size_t>(r->times_size() - 1) * static_cast<size_t>(set.dim);
  std::printf("    predict x(t+%.2g) from observed state: mean %8.3f  90%% [%8.3f, %8.3f]", horizon,
              At(r->mean(), last), At(r->intervals(0).lower(), last), At(r->intervals(0).upper(), last));
  if (!w.true_start.empty()) {
    std::vector<double> x = w.true_start;
    const int64_t steps = std::llround(horizon / set.step);
    for (int64_t i = 0; i < steps; ++i)
      x = hybrid::client::Lorenz63Rk4Step(x, set.step, 10.0, absl::GetFlag(FLAGS_true_rho), 8.0 / 3.0);
    for (int d = 0; d < set.dim; ++d) {
      const size_t i = last + static_cast<size_t>(d);
      *inside += (x[d] >= At(r->intervals(0).lower(), i) && x[d] <= At(r->intervals(0).upper(), i)) ? 1 : 0;
      ++*total;
    }
    std::printf("  truth %8.3f", x[0]);
  }
  std::printf("  (version %llu)\n", static_cast<unsigned long long>(r->model_version()));
}

int Calibrate(HybridClient& client, const std::string& model) {
  absl::StatusOr<hybrid::client::WindowSet> set = LoadWindows();
  if (!set.ok()) return Fail(set.status());
  const bool synthetic = !set->true_parameters.empty();
  hybrid::client::CalibrationRunOptions options;
  options.model = model;
  options.windows_per_observation = absl::GetFlag(FLAGS_windows_per_observation);
  options.max_observations = synthetic ? absl::GetFlag(FLAGS_observations) : 0;
  options.report_every = absl::GetFlag(FLAGS_report_every);
  const double horizon = absl::GetFlag(FLAGS_forecast_horizon);
  int64_t inside = 0, total = 0;

  std::printf("streaming %zu windows (%d steps of %.3g each) into %s, %d windows per observation\n",
              set->windows.size(), set->steps, set->step, model.c_str(), options.windows_per_observation);
  std::fflush(stdout);
  const std::string progress = absl::GetFlag(FLAGS_progress);
  if (progress != "auto" && progress != "on" && progress != "off") {
    return Fail(absl::InvalidArgumentError("--progress must be auto, on or off"));
  }
  const bool bar_on = progress == "on" || (progress == "auto" && isatty(STDERR_FILENO));
  hybrid::client::ProgressBar bar(stderr, bar_on);
  options.on_answer = [&](const hybrid::client::CalibrationReport& r) {
    std::string detail = absl::StrFormat("loss %.4g", r.last_loss);
    for (const v1::ParameterEstimate& p : r.parameters) {
      if (p.trainable()) absl::StrAppend(&detail, absl::StrFormat("  %s %.4f", p.name(), p.value()));
    }
    if (r.rejected > 0) absl::StrAppend(&detail, "  rejected ", r.rejected);
    bar.Update(r.answered, r.planned, detail);
  };
  absl::StatusOr<hybrid::client::CalibrationReport> final =
      hybrid::client::StreamCalibration(client, *set, options, [&](const hybrid::client::CalibrationReport& r) {
        if (bar_on) std::fputs("\r\x1b[K", stderr);  // The report line replaces the bar; the next update redraws it.
        std::printf(
            "obs %5lld (%6lld windows)  version %5llu  loss %9.4g  coverage(%.0f%%) %.3f",
            static_cast<long long>(r.answered), static_cast<long long>(r.answered) * options.windows_per_observation,
            static_cast<unsigned long long>(r.version), r.recent_loss, 100 * r.coverage_level, r.recent_coverage);
        for (const v1::ParameterEstimate& p : r.parameters) {
          if (!p.trainable()) continue;
          std::printf("  %s %.4f ± %.4f", p.name().c_str(), p.value(), p.std());
          for (const auto& [name, value] : set->true_parameters)
            if (name == p.name())
              std::printf(" (true %.4g, error %.2f%%)", value, 100 * std::abs(p.value() - value) / value);
        }
        if (r.rejected > 0) std::printf("  rejected %lld", static_cast<long long>(r.rejected));
        std::printf("\n");
        ShowForecast(client, model, *set, r.next_window, horizon, &inside, &total);
        std::fflush(stdout);
      });
  bar.Finish();
  if (!final.ok()) return Fail(final.status());
  std::printf("done: %lld observations answered, %lld accepted, %lld rejected; final version %llu\n",
              static_cast<long long>(final->answered), static_cast<long long>(final->accepted),
              static_cast<long long>(final->rejected), static_cast<unsigned long long>(final->version));
  if (!final->last_error.empty()) std::printf("last rejection: %s\n", final->last_error.c_str());
  if (total > 0) {
    std::printf("forecast 90%% interval coverage over %lld checked values: %.3f\n", static_cast<long long>(total),
                static_cast<double>(inside) / static_cast<double>(total));
  }
  const double limit = absl::GetFlag(FLAGS_max_rel_error);
  if (limit > 0.0 && synthetic) {
    const v1::ParameterEstimate* rho = FindParameter(final->parameters, "rho");
    const double truth = absl::GetFlag(FLAGS_true_rho);
    if (rho == nullptr || std::abs(rho->value() - truth) / truth > limit) {
      std::fprintf(stderr, "hybridctl: rho = %.4f misses %.4g by more than %.2g%%\n", rho ? rho->value() : NAN, truth,
                   100 * limit);
      return 3;
    }
  }
  return 0;
}

int Generate() {
  hybrid::client::Lorenz63SimulationOptions o;
  o.rho = absl::GetFlag(FLAGS_true_rho);
  o.dt = absl::GetFlag(FLAGS_dt);
  o.noise_std = absl::GetFlag(FLAGS_noise);
  o.seed = absl::GetFlag(FLAGS_seed);
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return Fail(absl::InvalidArgumentError("--out must be set"));
  if (absl::Status s = hybrid::client::WriteLorenz63Csv(out, o, absl::GetFlag(FLAGS_samples)); !s.ok()) return Fail(s);
  std::printf("wrote %lld samples to %s\n", static_cast<long long>(absl::GetFlag(FLAGS_samples)), out.c_str());
  return 0;
}

// load / unload / checkpoint / rollback: one line saying what the server did.
int Control(HybridClient& client, const std::string& command, const std::string& model) {
  if (command == "unload") {
    if (absl::Status s = client.UnloadModel(model); !s.ok()) return Fail(s);
    std::printf("%s unloaded (checkpointed)\n", model.c_str());
    return 0;
  }
  absl::StatusOr<uint64_t> version;
  if (command == "load") {
    version = client.LoadModel(model);
  } else if (command == "checkpoint") {
    version = client.SaveCheckpoint(model);
  } else {
    if (absl::GetFlag(FLAGS_version) == 0) {
      std::fprintf(stderr, "hybridctl rollback: --version is missing (see `hybridctl get %s`)\n", model.c_str());
      return 2;
    }
    version = client.Rollback(model, absl::GetFlag(FLAGS_version));
  }
  if (!version.ok()) return Fail(version.status());
  const char* what = command == "load" ? "loaded at" : command == "checkpoint" ? "checkpointed at" : "now serving";
  std::printf("%s %s version %llu\n", model.c_str(), what, static_cast<unsigned long long>(*version));
  return 0;
}

// Live parameters, loss and coverage of MODEL, refreshed every --interval
// seconds: redrawn in place on a terminal, one frame after another otherwise.
int Watch(HybridClient& client, const std::string& model) {
  const double interval = absl::GetFlag(FLAGS_interval);
  const int64_t count = absl::GetFlag(FLAGS_count);
  if (!(interval > 0) || count < 0) return Fail(absl::InvalidArgumentError("--interval must be > 0, --count ≥ 0"));
  const bool terminal = isatty(STDOUT_FILENO);
  hybrid::client::WatchView view(/*history=*/40);
  const absl::Time start = absl::Now();
  for (int64_t n = 0; count == 0 || n < count; ++n) {
    if (n > 0) absl::SleepFor(absl::Seconds(interval));
    absl::StatusOr<v1::GetModelResponse> r = client.GetModel(model);
    if (!r.ok()) return Fail(r.status());
    const std::string frame = view.Render(*r, absl::ToDoubleSeconds(absl::Now() - start));
    std::printf("%s%s%s", terminal ? "\x1b[H\x1b[2J" : "", frame.c_str(), terminal ? "" : "\n");  // Home + clear.
    std::fflush(stdout);
  }
  return 0;
}

// The replica that owns MODEL when the models are sharded over --shards replicas (hybridserve --shard=K/N).
int Shard(const std::string& model) {
  const int shards = absl::GetFlag(FLAGS_shards);
  if (shards < 1) {
    std::fprintf(stderr, "hybridctl: --shards must be ≥ 1\n");
    return 2;
  }
  std::printf("%d\n", hybrid::base::ShardOf(model, shards));
  return 0;
}

int Observe(HybridClient& client, const std::string& model) {
  const std::string from = absl::GetFlag(FLAGS_from);
  if (from.empty()) return Fail(absl::InvalidArgumentError("observe: give --from=FILE.csv"));
  absl::StatusOr<v1::GetModelResponse> info = client.GetModel(model);
  if (!info.ok()) return Fail(info.status());
  std::set<std::string> inputs;
  for (const v1::InputConfig& i : info->config().inputs()) inputs.insert(i.name());
  absl::StatusOr<std::vector<v1::Report>> reports = hybrid::client::ReadReportsCsv(from, inputs);
  if (!reports.ok()) return Fail(reports.status());
  const size_t batch = static_cast<size_t>(std::max(1, info->config().entities().max_reports_per_request()));
  size_t accepted = 0, refused = 0;
  for (size_t first = 0; first < reports->size(); first += batch) {
    v1::ObserveRequest request;
    request.set_model(model);
    for (size_t i = first; i < std::min(reports->size(), first + batch); ++i) *request.add_reports() = (*reports)[i];
    absl::StatusOr<v1::ObserveResponse> r = client.Observe(request);
    if (!r.ok()) return Fail(r.status());
    for (int i = 0; i < r->outcomes_size(); ++i) {
      const v1::ReportOutcome& o = r->outcomes(i);
      if (o.status().code() == 0) {
        ++accepted;
      } else {
        ++refused;
        std::fprintf(stderr, "report %zu (%s at %g): %s\n", first + static_cast<size_t>(i) + 1,
                     request.reports(i).entity().c_str(), request.reports(i).time(), o.status().message().c_str());
      }
    }
  }
  std::printf("%zu reports: %zu accepted, %zu refused\n", reports->size(), accepted, refused);
  return refused == 0 ? 0 : 1;
}

int Entities(HybridClient& client, const std::string& model) {
  std::string start;
  std::printf("%-32s %12s %8s\n", "entity", "clock", "reports");
  do {
    absl::StatusOr<v1::ListEntitiesResponse> page = client.ListEntities(model, start);
    if (!page.ok()) return Fail(page.status());
    for (const v1::EntitySummary& e : page->entities()) {
      std::printf("%-32s %12.6g %8llu\n", e.entity().c_str(), e.time(), static_cast<unsigned long long>(e.reports()));
    }
    start = page->next_start_after();
  } while (!start.empty());
  return 0;
}

int Health(HybridClient& client) {
  absl::StatusOr<bool> serving = client.IsServing();
  if (!serving.ok()) return Fail(serving.status());
  std::printf("%s\n", *serving ? "SERVING" : "NOT_SERVING");
  return *serving ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args = hybrid::base::ParseCommandLine(
      argc, argv,
      "hybridctl COMMAND [MODEL] [flags]; commands: models, get, predict, calibrate, observe, entities, load, "
      "unload, checkpoint, "
      "rollback, generate, health, shard, watch; the server is --target=HOST:PORT (default 127.0.0.1:50051)");
  if (args.size() < 2) {
    std::fprintf(stderr, "usage: %s\n", absl::ProgramUsageMessage().data());
    return 2;
  }
  const std::string command = args[1];
  if (command == "generate") return Generate();
  if (command == "shard") {
    if (args.size() < 3) {
      std::fprintf(stderr, "hybridctl shard: MODEL is missing\n");
      return 2;
    }
    return Shard(args[2]);
  }

  absl::StatusOr<hybrid::client::ClientOptions> options = hybrid::client::ClientOptionsFromFlags();
  if (!options.ok()) return Fail(options.status());
  absl::StatusOr<std::unique_ptr<HybridClient>> client = HybridClient::Connect(*options);
  if (!client.ok()) return Fail(client.status());
  if (command == "models") return Models(**client);
  if (command == "health") return Health(**client);
  const bool control = command == "load" || command == "unload" || command == "checkpoint" || command == "rollback";
  if (args.size() < 3 && (control || command == "get" || command == "watch" || command == "predict" ||
                          command == "calibrate" || command == "observe" || command == "entities")) {
    std::fprintf(stderr, "hybridctl %s: MODEL is missing\n", command.c_str());
    return 2;
  }
  if (command == "get") return Get(**client, args[2]);
  if (command == "watch") return Watch(**client, args[2]);
  if (command == "predict") return Predict(**client, args[2]);
  if (command == "calibrate") return Calibrate(**client, args[2]);
  if (command == "observe") return Observe(**client, args[2]);
  if (command == "entities") return Entities(**client, args[2]);
  if (control) return Control(**client, command, args[2]);
  std::fprintf(stderr, "hybridctl: unknown command '%s'\n", command.c_str());
  return 2;
}
