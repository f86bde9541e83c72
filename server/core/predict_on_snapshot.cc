#include "server/core/predict_on_snapshot.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/checked_arithmetic.h"
#include "server/core/entities/entity_filter.h"
#include "solvers/integrate/ode_solver.h"
#include "solvers/torch_status.h"
#include "solvers/uncertainty/ensemble_stats.h"
#include "solvers/uncertainty/gaussian_mixture.h"
#include "solvers/uncertainty/perturbed_forecast.h"

namespace hybrid::server {
namespace {

// Upper bound of a Predict answer's encoded size: T times, then mean and std
// and a lower and upper bound per level, each T x B x D float64 values, plus
// framing (tags, shapes, names) well inside the constant. nullopt: overflows.
std::optional<int64_t> AnswerBytes(int64_t times, int64_t batch, int64_t dim, int64_t levels) {
  constexpr int64_t kFraming = 4096;
  const std::optional<int64_t> per_tensor = base::CheckedProduct({times, batch, dim});
  const std::optional<int64_t> tensors = base::CheckedAdd(2, 2 * levels);
  if (!per_tensor || !tensors) return std::nullopt;
  const std::optional<int64_t> values = base::CheckedMul(*per_tensor, *tensors);
  if (!values) return std::nullopt;
  const std::optional<int64_t> all = base::CheckedAdd(*values, times);
  if (!all) return std::nullopt;
  const std::optional<int64_t> bytes = base::CheckedMul(*all, int64_t{sizeof(double)});
  return bytes ? base::CheckedAdd(*bytes, kFraming) : std::nullopt;
}

// The answer's size follows from the request alone: refused before any work
// when it would pass the model's limit or the message limit.
absl::Status ValidateAnswerSize(const v1::ModelConfig& config, const PredictQuery& q, int64_t batch, int64_t dim) {
  const int64_t levels = q.levels.empty() ? 1 : static_cast<int64_t>(q.levels.size());
  const int64_t times = static_cast<int64_t>(q.times.size());
  const std::optional<int64_t> bytes = AnswerBytes(times, batch, dim, levels);
  int64_t limit = config.limits().max_answer_bytes();
  if (q.max_answer_bytes > 0) limit = std::min(limit, q.max_answer_bytes);
  if (!bytes || *bytes > limit) {
    return absl::OutOfRangeError(absl::StrCat(
        "the answer would take ", bytes ? absl::StrCat(*bytes) : "more than 2^63", " bytes: output times (", times,
        ") x initial_state states (", batch, ") x components (", dim, ") x (mean, std and 2 x ", levels,
        " interval_levels) float64 values; the limit is ", limit,
        " bytes (limits.max_answer_bytes, or the server's --max_message_bytes): ask for fewer output times, states "
        "or interval levels"));
  }
  return absl::OkStatus();
}

absl::Status ValidateQuery(const ModelSnapshot& snapshot, const v1::ModelConfig& config, const ObservationSpace& space,
                           const PredictQuery& q) {
  // Checked against the snapshot that would answer, so no newer version can slip in between.
  if (q.version && *q.version != snapshot.version) {
    return absl::NotFoundError(absl::StrCat("model '", config.name(), "' has no version ", *q.version,
                                            " to serve; it serves version ", snapshot.version, " (its current one)"));
  }
  const int64_t dim = snapshot.model->state_dim();
  const auto& shape = q.initial_state.shape;
  if (!q.entity.empty()) {
    if (!shape.empty()) {
      return absl::InvalidArgumentError(
          "initial_state must be unset when entity is set: the forecast starts from "
          "the entity's analysis ensemble");
    }
    if (!snapshot.entities.Find(q.entity)) {
      return absl::NotFoundError(absl::StrCat("model '", config.name(), "' has no entity '", q.entity, "'"));
    }
  } else if (!IsStateOrBatch(q.initial_state, dim)) {
    return absl::InvalidArgumentError(
        absl::StrCat("initial_state must have shape [", dim, "] or [B, ", dim, "] for model '", config.name(), "'"));
  }
  const int64_t batch = Rows(q.initial_state);
  if (!q.entity.empty()) {
    // Its start is the analysis ensemble; the rest is checked as for a state.
  } else if (batch > config.limits().max_batch()) {
    return absl::OutOfRangeError(
        absl::StrCat("initial_state has ", batch, " states; the model allows at most ", config.limits().max_batch()));
  }
  if (q.ensemble_size < 0) {
    return absl::InvalidArgumentError(absl::StrCat("ensemble_size must be >= 0, got ", q.ensemble_size));
  }
  if (q.ensemble_size > snapshot.model->members()) {
    return absl::OutOfRangeError(absl::StrCat("ensemble_size ", q.ensemble_size, " exceeds the model's ",
                                              snapshot.model->members(), " ensemble_members"));
  }
  if (!(q.max_step > 0.0) || !std::isfinite(q.max_step)) {
    return absl::InvalidArgumentError(absl::StrCat("max_step must be finite and > 0, got ", q.max_step));
  }
  if (const size_t n = q.initial_state_std.size(); n > 1 && static_cast<int64_t>(n) != dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("initial_state_std has ", n, " values; give 1 (every component) or ", dim));
  }
  for (size_t i = 0; i < q.initial_state_std.size(); ++i) {
    if (!(q.initial_state_std[i] >= 0.0) || !std::isfinite(q.initial_state_std[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("initial_state_std[", i, "] = ", q.initial_state_std[i], " must be finite and ≥ 0"));
    }
  }
  if (static_cast<int64_t>(q.levels.size()) > config.limits().max_interval_levels()) {
    return absl::OutOfRangeError(absl::StrCat("interval_levels has ", q.levels.size(),
                                              " levels; the model allows at most ",
                                              config.limits().max_interval_levels(), " (limits.max_interval_levels)"));
  }
  for (size_t i = 0; i < q.levels.size(); ++i) {
    if (!(q.levels[i] > 0.0 && q.levels[i] < 1.0)) {
      return absl::InvalidArgumentError(absl::StrCat("interval_levels[", i, "] = ", q.levels[i], " must be in (0, 1)"));
    }
  }
  if (q.times.empty()) return absl::InvalidArgumentError("output times must not be empty");
  if (static_cast<int64_t>(q.times.size()) > config.limits().max_output_times()) {
    return absl::OutOfRangeError(
        absl::StrCat(q.times.size(), " output times; the model allows at most ", config.limits().max_output_times()));
  }
  double previous = 0.0;
  for (size_t i = 0; i < q.times.size(); ++i) {
    if (!std::isfinite(q.times[i]) || !(q.times[i] > previous)) {
      return absl::InvalidArgumentError(
          absl::StrCat("output_times.times[", i, "] = ", q.times[i], " must be finite and greater than ", previous));
    }
    previous = q.times[i];
  }
  const std::optional<int64_t> steps = solvers::FixedStepCount(0.0, q.times, q.max_step);
  if (!steps || *steps > config.limits().max_total_steps()) {
    return absl::OutOfRangeError(absl::StrCat(
        "the forecast needs ", steps ? absl::StrCat(*steps) : absl::StrCat("about ", q.times.back() / q.max_step),
        " RK4 steps of at most max_step = ", q.max_step, "; the model allows at most ",
        config.limits().max_total_steps(), " (raise max_step or shorten the horizon)"));
  }
  if (static_cast<int64_t>(q.planned_inputs.size()) > config.limits().max_output_times()) {
    return absl::OutOfRangeError(absl::StrCat("planned_inputs has ", q.planned_inputs.size(),
                                              " inputs; the model allows at most ", config.limits().max_output_times(),
                                              " (limits.max_output_times)"));
  }
  for (size_t i = 0; i < q.planned_inputs.size(); ++i) {
    if (!space.FindInput(q.planned_inputs[i].input)) {
      return absl::InvalidArgumentError(absl::StrCat("planned_inputs[", i, "].input '", q.planned_inputs[i].input,
                                                     "' is not an input of model '", config.name(), "'"));
    }
  }
  // An entity's answer has a column per observable (the state's components first).
  const int64_t columns = q.entity.empty() ? dim : static_cast<int64_t>(space.observables().size());
  return ValidateAnswerSize(config, q, batch, columns);
}

DenseArray ToArray(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  DenseArray out;
  out.shape.assign(c.sizes().begin(), c.sizes().end());
  out.values.assign(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  return out;
}

// For a model with a heteroscedastic head: sample s (of member m) predicts
// N(x_s, σ_m²(x_s)) with log σ² from member m's head at its own forecast
// state; the predictive distribution is their equal-weight mixture and the
// intervals its exact quantiles. samples: [S = M·K, T, B, D], member-major.
solvers::EnsembleSummary HeadMixtureSummary(const solvers::HybridModel& model, const at::Tensor& samples,
                                            const std::vector<double>& levels, const at::Tensor& extra_variance) {
  const int64_t m = model.members(), d = samples.size(3);
  const at::Tensor variance = at::exp(model.LogVariance(samples.reshape({m, -1, d}))).view_as(samples);
  const solvers::GaussianMixture mixture{samples, (variance + extra_variance).sqrt()};
  solvers::EnsembleSummary summary;
  summary.mean = mixture.Mean();
  summary.std = mixture.Std();
  summary.levels = levels;
  for (double level : levels) {
    summary.lower.push_back(mixture.Quantile(0.5 - level / 2));
    summary.upper.push_back(mixture.Quantile(0.5 + level / 2));
  }
  return summary;
}

// The start's uncertainty: the request's std, or the model's sensor noise.
at::Tensor InitialStd(const PredictQuery& q, const solvers::ForecastErrorModel& errors, int64_t dim) {
  if (q.initial_state_std.empty()) return errors.noise_variance().sqrt();
  if (q.initial_state_std.size() == 1) return at::full({dim}, q.initial_state_std[0], at::kDouble);
  return at::tensor(q.initial_state_std, at::kDouble);
}

// ForecastSamples across the query's planned inputs: one piece between input
// times, each continuing every sample of the last, a bolus added to every
// sample at its time (an output at that time sees it), a rate in force from
// its time on. `rates`: one per config input at the start (empty: none).
// [S, T, B, D], as ForecastSamples.
absl::StatusOr<at::Tensor> SamplesWithInputs(const solvers::HybridModel& model, at::Tensor x0, const PredictQuery& q,
                                             const solvers::SolverOptions& options, solvers::SampleOptions sampling,
                                             const ObservationSpace& space, std::vector<double> rates) {
  rates.resize(space.inputs().size(), 0.0);
  // Inputs after the last output change nothing the answer shows: not integrated to.
  std::vector<PlannedInput> planned;
  for (const PlannedInput& p : q.planned_inputs) {
    if (p.time <= q.times.back()) planned.push_back(p);
  }
  std::stable_sort(planned.begin(), planned.end(),
                   [](const PlannedInput& a, const PlannedInput& b) { return a.time < b.time; });
  const int64_t m = model.members(), batch = x0.size(-2), dim = model.state_dim();
  std::vector<at::Tensor> outputs;  // [S, T_piece, B, D] each
  at::Tensor state;                 // [S, B, D]: every sample at time t; undefined before the first piece
  double t = 0.0;
  size_t next_output = 0, next_input = 0;
  for (uint64_t piece = 0; next_output < q.times.size(); ++piece) {
    for (; next_input < planned.size() && planned[next_input].time <= t; ++next_input) {
      const size_t i = *space.FindInput(planned[next_input].input);
      if (space.inputs()[i].rate) {
        rates[i] = planned[next_input].value;
        continue;
      }
      at::Tensor& target = state.defined() ? state : x0;
      target = target.clone();
      target.select(-1, space.inputs()[i].component) += planned[next_input].value;
    }
    for (; next_output < q.times.size() && q.times[next_output] == t; ++next_output)
      outputs.push_back(state.unsqueeze(1));
    if (next_output == q.times.size()) break;
    const bool bounded = next_input < planned.size();
    const double end = bounded ? planned[next_input].time : q.times.back();
    std::vector<double> piece_times;
    for (size_t o = next_output; o < q.times.size() && q.times[o] < end; ++o) piece_times.push_back(q.times[o] - t);
    const size_t piece_outputs = piece_times.size();
    if (end > t) piece_times.push_back(end - t);  // The piece's end: an output only if one is there.
    const bool infused = std::any_of(rates.begin(), rates.end(), [](double r) { return r != 0.0; });
    sampling.rate = infused ? InputRates(space, rates).to(model.dtype()) : at::Tensor();
    absl::StatusOr<at::Tensor> solved;
    if (!state.defined()) {
      solved = solvers::ForecastSamples(model, x0, piece_times, options, sampling);
    } else {
      // Every sample continues on: member m's K samples as member m's batch.
      const int64_t k = state.size(0) / m;
      solvers::SampleOptions next = sampling;
      next.per_member = 1;
      next.initial_std = at::Tensor();
      next.seed = sampling.seed + piece * 0x9E3779B97F4A7C15ull;
      solved = solvers::ForecastSamples(model, state.reshape({m, k * batch, dim}), piece_times, options, next);
      if (solved.ok()) {
        const int64_t steps = solved->size(1);
        *solved = solved->view({m, steps, k, batch, dim}).permute({0, 2, 1, 3, 4}).reshape({m * k, steps, batch, dim});
      }
    }
    if (!solved.ok()) return solved.status();
    if (piece_outputs > 0) outputs.push_back(solved->narrow(1, 0, static_cast<int64_t>(piece_outputs)));
    next_output += piece_outputs;
    state = solved->select(1, solved->size(1) - 1);
    t = end;
  }
  return at::cat(outputs, 1);
}

// The model that forecasts q: the snapshot's first ensemble_size members, and
// an entity's own parameters in a private copy.
std::shared_ptr<const solvers::HybridModel> Forecaster(const ModelSnapshot& snapshot, const ObservationSpace& space,
                                                       const PredictQuery& q, const EntityState* entity) {
  std::shared_ptr<const solvers::HybridModel> forecaster =
      snapshot.WithMembers(q.ensemble_size == 0 ? snapshot.model->members() : q.ensemble_size);
  if (entity && !entity->parameters.empty()) {
    std::shared_ptr<solvers::HybridModel> own = forecaster->Clone();
    EntityParameterSwap(*own, space, entity->parameters).Keep();
    forecaster = std::move(own);
  }
  return forecaster;
}

solvers::SolverOptions SolverFor(const v1::ModelConfig& config, const PredictQuery& q) {
  solvers::SolverOptions options;  // Fixed-step RK4: what the model was calibrated with.
  options.method = "rk4";
  options.step = q.max_step;
  options.max_steps = config.limits().max_total_steps();
  options.interrupt = q.interrupt;
  return options;
}

solvers::SampleOptions SamplingFor(const ModelSnapshot& snapshot, const v1::ModelConfig& config, const PredictQuery& q,
                                   const solvers::HybridModel& model, bool entity) {
  const solvers::ForecastErrorModel& errors = *snapshot.errors;
  solvers::SampleOptions sampling;
  // The analysis ensemble's spread is an entity's start uncertainty already.
  if (!entity) sampling.initial_std = InitialStd(q, errors, model.state_dim()).to(model.dtype());
  sampling.model_error_rate = errors.model_error_rate().to(model.dtype());
  sampling.per_member = config.uncertainty().samples_per_member();
  // Deterministic per (model, version): every answer of one version agrees.
  sampling.seed = config.seed() * 0x9E3779B97F4A7C15ull + snapshot.version;
  return sampling;
}

at::Tensor StateStarts(const PredictQuery& q, const solvers::HybridModel& model) {
  const int64_t dim = model.state_dim();
  return at::tensor(q.initial_state.values, at::kDouble).view({Rows(q.initial_state), dim}).to(model.dtype());
}

// The answer to q from its forecast samples [S, T, B, D].
PredictAnswer Summarize(const ModelSnapshot& snapshot, const v1::ModelConfig& config, const ObservationSpace& space,
                        const PredictQuery& q, const solvers::HybridModel& model, const EntityState* entity,
                        at::Tensor samples) {
  const solvers::ForecastErrorModel& errors = *snapshot.errors;
  const int64_t dim = model.state_dim();
  const bool single = entity || q.initial_state.shape.size() == 1;
  const std::vector<double> levels = q.levels.empty() ? std::vector<double>{0.9} : q.levels;
  at::Tensor reading = q.include_observation_noise ? errors.noise_variance().to(samples.scalar_type()) : at::Tensor();
  // An entity's forecast answers the config's observables too, as columns
  // after the state's, each sample read with its member's (and the entity's) θ.
  std::vector<ComponentInfo> columns;
  for (int64_t i = 0; i < dim; ++i) columns.push_back({space.observables()[i].name, space.observables()[i].unit});
  const size_t extra = entity && !model.has_noise_head() ? space.observables().size() - static_cast<size_t>(dim) : 0;
  if (extra > 0) {
    std::vector<size_t> observables;
    std::vector<double> noise;
    for (size_t o = static_cast<size_t>(dim); o < space.observables().size(); ++o) {
      observables.push_back(o);
      columns.push_back({space.observables()[o].name, space.observables()[o].unit});
      noise.push_back(std::pow(space.observables()[o].noise_std.value_or(0.0), 2));
    }
    const int64_t s = samples.size(0), t = samples.size(1), b = samples.size(2), m = model.members();
    const at::Tensor readings = PredictReadings(samples.to(at::kDouble).view({m, -1, dim}), model, space, observables)
                                    .view({s, t, b, -1})
                                    .to(samples.scalar_type());
    samples = at::cat({samples, readings}, 3);
    if (reading.defined()) reading = at::cat({reading, at::tensor(noise, reading.options())});
  }
  std::vector<double> scales;
  // An entity's forecast takes the correction learned from its model's entity
  // stream (entity_filter.h); a state's, the one learned from windows.
  for (double t : q.times) {
    scales.push_back(entity ? std::exp(snapshot.entity_log_scales[LeadBucket(t)]) : errors.ConformalScale(t));
  }
  const at::Tensor spread_scale = at::tensor(scales, at::kDouble).to(samples.scalar_type()).view({-1, 1, 1});
  const solvers::EnsembleSummary summary =
      model.has_noise_head()
          ? HeadMixtureSummary(model, samples, levels, reading.defined() ? reading : at::zeros({1}, samples.options()))
          : solvers::SummarizeSamples(samples, reading, levels, spread_scale);
  auto shaped = [&](const at::Tensor& t) { return ToArray(single ? t.squeeze(1) : t); };

  PredictAnswer answer;
  answer.model = config.name();
  answer.version = snapshot.version;
  answer.ensemble_size = model.members();
  answer.times = q.times;
  answer.start_time = entity ? entity->time : 0.0;
  answer.components = std::move(columns);
  answer.mean = shaped(summary.mean);
  answer.std = shaped(summary.std);
  for (size_t i = 0; i < levels.size(); ++i) {
    answer.intervals.push_back({levels[i], shaped(summary.lower[i]), shaped(summary.upper[i])});
  }
  return answer;
}

absl::StatusOr<PredictAnswer> Forecast(const ModelSnapshot& snapshot, const v1::ModelConfig& config,
                                       const ObservationSpace& space, const PredictQuery& q) {
  const std::shared_ptr<const EntityState> entity = q.entity.empty() ? nullptr : snapshot.entities.Find(q.entity);
  const std::shared_ptr<const solvers::HybridModel> forecaster = Forecaster(snapshot, space, q, entity.get());
  // Snapshots are never trained, so inference mode (no autograd bookkeeping at
  // all, faster than no-grad) is safe here.
  c10::InferenceMode inference;
  const solvers::HybridModel& model = *forecaster;
  // An entity's member m starts from its own analysis state (the first
  // `members` of them, as the model's members are the first ones).
  const at::Tensor x0 = entity ? at::tensor(entity->ensemble, at::kDouble)
                                     .view({-1, 1, model.state_dim()})
                                     .narrow(0, 0, model.members())
                                     .to(model.dtype())
                               : StateStarts(q, model);
  absl::StatusOr<at::Tensor> samples =
      SamplesWithInputs(model, x0, q, SolverFor(config, q), SamplingFor(snapshot, config, q, model, entity != nullptr),
                        space, entity ? entity->rates : std::vector<double>());
  if (!samples.ok()) return samples.status();  // [S, T, B, D]
  return Summarize(snapshot, config, space, q, model, entity.get(), *std::move(samples));
}

// Queries that SharesForecast says agree, as one solve: the first one's
// forecaster, grid and draws' options, each query its own starts and answer.
// The solve goes on while any query still wants it.
absl::StatusOr<std::vector<PredictAnswer>> ForecastTogether(const ModelSnapshot& snapshot,
                                                            const v1::ModelConfig& config,
                                                            const ObservationSpace& space,
                                                            const std::vector<const PredictQuery*>& queries) {
  const PredictQuery& first = *queries.front();
  const std::shared_ptr<const solvers::HybridModel> forecaster = Forecaster(snapshot, space, first, nullptr);
  c10::InferenceMode inference;
  const solvers::HybridModel& model = *forecaster;
  std::vector<at::Tensor> x0s;
  for (const PredictQuery* q : queries) x0s.push_back(StateStarts(*q, model));
  solvers::SolverOptions options = SolverFor(config, first);
  options.interrupt = [&queries]() -> absl::Status {
    absl::Status first_error;
    for (const PredictQuery* q : queries) {
      absl::Status s = q->interrupt ? q->interrupt() : absl::OkStatus();
      if (s.ok()) return s;
      if (first_error.ok()) first_error = s;
    }
    return first_error;
  };
  absl::StatusOr<std::vector<at::Tensor>> samples = solvers::ForecastSamplesTogether(
      model, x0s, first.times, options, SamplingFor(snapshot, config, first, model, /*entity=*/false));
  if (!samples.ok()) return samples.status();
  std::vector<PredictAnswer> answers;
  for (size_t i = 0; i < queries.size(); ++i) {
    answers.push_back(Summarize(snapshot, config, space, *queries[i], model, nullptr, std::move((*samples)[i])));
  }
  return answers;
}

}  // namespace

bool SharesForecast(const PredictQuery& a, const PredictQuery& b) {
  return a.entity.empty() && b.entity.empty() && a.planned_inputs.empty() && b.planned_inputs.empty() &&
         a.times == b.times && a.max_step == b.max_step && a.ensemble_size == b.ensemble_size &&
         a.initial_state_std == b.initial_state_std && a.version == b.version;
}

absl::StatusOr<PredictAnswer> PredictOnSnapshot(const ModelSnapshot& snapshot, const v1::ModelConfig& config,
                                                const ObservationSpace& space, const PredictQuery& query) {
  if (absl::Status s = ValidateQuery(snapshot, config, space, query); !s.ok()) return s;
  return solvers::RunCatchingTorch("predict", [&] { return Forecast(snapshot, config, space, query); });
}

std::vector<absl::StatusOr<PredictAnswer>> PredictTogetherOnSnapshot(const ModelSnapshot& snapshot,
                                                                     const v1::ModelConfig& config,
                                                                     const ObservationSpace& space,
                                                                     absl::Span<const PredictQuery* const> queries) {
  std::vector<absl::StatusOr<PredictAnswer>> answers(queries.size(), absl::UnknownError("not forecast"));
  std::vector<size_t> valid;
  for (size_t i = 0; i < queries.size(); ++i) {
    if (absl::Status s = ValidateQuery(snapshot, config, space, *queries[i]); !s.ok()) {
      answers[i] = std::move(s);
    } else {
      valid.push_back(i);
    }
  }
  if (valid.size() == 1) {
    const PredictQuery& q = *queries[valid.front()];
    answers[valid.front()] = solvers::RunCatchingTorch("predict", [&] { return Forecast(snapshot, config, space, q); });
  } else if (valid.size() > 1) {
    std::vector<const PredictQuery*> together;
    for (size_t i : valid) together.push_back(queries[i]);
    absl::StatusOr<std::vector<PredictAnswer>> solved =
        solvers::RunCatchingTorch("predict", [&] { return ForecastTogether(snapshot, config, space, together); });
    for (size_t j = 0; j < valid.size(); ++j) {
      answers[valid[j]] = solved.ok() ? absl::StatusOr<PredictAnswer>(std::move((*solved)[j])) : solved.status();
    }
  }
  return answers;
}

}  // namespace hybrid::server
