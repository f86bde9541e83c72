#include "server/core/entities/entity_filter.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <optional>

#include "absl/strings/str_cat.h"
#include "base/model_shard.h"
#include "solvers/assimilation/ensemble_transform_kalman.h"
#include "solvers/assimilation/member_forecast.h"
#include "solvers/integrate/ode_solver.h"
#include "solvers/uncertainty/forecast_metrics.h"

namespace hybrid::server {
namespace {

// One value per component from a config list of 0, 1 or D values.
double PerComponent(const google::protobuf::RepeatedField<double>& values, int64_t d, double fallback) {
  if (values.empty()) return fallback;
  return values.size() == 1 ? values[0] : values[static_cast<int>(d)];
}

at::Tensor ToTensor(const std::vector<double>& values, int64_t rows, int64_t cols) {
  return at::tensor(values, at::kDouble).view({rows, cols});
}

std::vector<double> ToVector(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// A report whose forecast or analysis left the finite numbers: not applied.
absl::Status NonFinite(const std::string& entity, const char* what, double max_step) {
  return absl::FailedPreconditionError(absl::StrCat("entity '", entity, "': its ", what,
                                                    " became non-finite; the report was not applied (is "
                                                    "entities.max_step ",
                                                    max_step, " small enough for these dynamics?)"));
}

}  // namespace

uint64_t ReportFingerprint(const Report& report) {
  std::string bytes;
  const auto number = [&bytes](double v) { bytes.append(reinterpret_cast<const char*>(&v), sizeof v); };
  const auto name = [&bytes](const std::string& s) { bytes.append(s).push_back('\0'); };
  name(report.entity);
  number(report.time);
  for (const Reading& r : report.readings) {
    name(r.observable);
    number(r.value);
    bytes.push_back(r.noise_std ? '1' : '0');
    if (r.noise_std) number(*r.noise_std);
  }
  bytes.push_back('|');  // Readings end: a reading and an input of the same name differ.
  for (const InputEvent& e : report.inputs) {
    name(e.input);
    number(e.value);
  }
  return base::ShardHash(bytes);
}

at::Tensor RawParameter(const solvers::ScientificModel& physics, const ObservationSpace::Parameter& parameter) {
  const std::string key = (parameter.positive ? "log_" : "") + parameter.name;
  const torch::OrderedDict<std::string, at::Tensor> parameters = physics.named_parameters(/*recurse=*/false);
  const at::Tensor* raw = parameters.find(key);
  TORCH_CHECK(raw != nullptr, "the physics has no parameter tensor '", key, "'");
  return *raw;  // Shares the model's storage.
}

at::Tensor InputRates(const ObservationSpace& space, const std::vector<double>& rates) {
  at::Tensor rate = at::zeros({space.state_dim()}, at::kDouble);
  for (size_t i = 0; i < space.inputs().size(); ++i) {
    if (rates[i] != 0.0) rate[space.inputs()[i].component] += rates[i];
  }
  return rate;
}

at::Tensor PredictReadings(const at::Tensor& members, const solvers::HybridModel& model, const ObservationSpace& space,
                           const std::vector<size_t>& observables) {
  const solvers::ScientificModel& physics = model.physics();
  const at::Tensor x = members.dim() == 2 ? members.unsqueeze(1) : members;  // [K, N, D]
  at::Tensor scripted;  // [K, N, scripted observables], computed once when any is asked for.
  std::vector<at::Tensor> columns;
  for (size_t o : observables) {
    if (const std::optional<int64_t> column = space.observables()[o].scripted) {
      if (!scripted.defined()) scripted = dynamic_cast<const solvers::TorchScriptPhysics&>(physics).Observe(x);
      columns.push_back(scripted.select(2, *column));
      continue;
    }
    at::Tensor reading = at::zeros({x.size(0), x.size(1)}, at::kDouble);
    for (const ObservationSpace::Term& term : space.observables()[o].terms) {
      at::Tensor value = x.select(2, term.component).to(at::kDouble) * term.weight;
      if (term.divided_by) {
        value = value / physics.Value(*term.divided_by).to(at::kDouble).narrow(0, 0, x.size(0)).unsqueeze(1);
      }
      reading = reading + value;
    }
    columns.push_back(reading);
  }
  const at::Tensor out = at::stack(columns, 2);
  return members.dim() == 2 ? out.squeeze(1) : out;
}

EntityParameterSwap::EntityParameterSwap(solvers::HybridModel& model, const ObservationSpace& space,
                                         const std::vector<double>& raw)
    : physics_(model.physics()) {
  if (space.per_entity().empty()) return;
  at::NoGradGuard no_grad;
  const int64_t count = static_cast<int64_t>(space.per_entity().size());
  const at::Tensor values = at::tensor(raw, at::kDouble).view({-1, count}).narrow(0, 0, physics_.members());
  for (int64_t i = 0; i < count; ++i) {
    at::Tensor tensor = RawParameter(physics_, space.parameters()[space.per_entity()[static_cast<size_t>(i)].index]);
    saved_.push_back(tensor.clone());
    tensor.copy_(values.select(1, i).to(tensor.scalar_type()));
    tensors_.push_back(tensor);
  }
}

EntityParameterSwap::~EntityParameterSwap() {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < tensors_.size(); ++i) tensors_[i].copy_(saved_[i]);
}

at::Tensor EntityParameterSwap::Current() const {
  std::vector<at::Tensor> columns;
  for (const at::Tensor& t : tensors_) columns.push_back(t.to(at::kDouble));
  return columns.empty() ? at::zeros({physics_.members(), 0}, at::kDouble) : at::stack(columns, 1);
}

void EntityParameterSwap::Set(const at::Tensor& raw) {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    tensors_[i].copy_(raw.select(1, static_cast<int64_t>(i)).to(tensors_[i].scalar_type()));
  }
}

EntityFilter::EntityFilter(std::shared_ptr<const ObservationSpace> space, Options options)
    : space_(std::move(space)), options_(std::move(options)) {}

EntityState EntityFilter::Prior(const std::string& name, const solvers::HybridModel& model) const {
  const int64_t m = options_.members, d = space_->state_dim();
  std::vector<double> mean(static_cast<size_t>(d)), std(static_cast<size_t>(d));
  for (int64_t i = 0; i < d; ++i) {
    mean[static_cast<size_t>(i)] = PerComponent(options_.entities.prior_mean(), i, 0.0);
    std[static_cast<size_t>(i)] = PerComponent(options_.entities.prior_std(), i, 1.0);
  }
  at::Generator generator =
      at::detail::createCPUGenerator(options_.seed * 0x9E3779B97F4A7C15ull ^ base::ShardHash(name));
  const at::Tensor members =
      at::tensor(mean, at::kDouble) + at::tensor(std, at::kDouble) * at::randn({m, d}, generator, at::kDouble);
  EntityState prior;
  prior.name = name;
  prior.ensemble = ToVector(solvers::ClampNonNegative(model.physics().Components(), members));
  prior.rates.assign(space_->inputs().size(), 0.0);
  // Each member's own parameters around that member's population value.
  const std::vector<ObservationSpace::EntityParameter>& own = space_->per_entity();
  if (!own.empty()) {
    std::vector<at::Tensor> columns;
    for (const ObservationSpace::EntityParameter& p : own) {
      columns.push_back(RawParameter(model.physics(), space_->parameters()[p.index]).to(at::kDouble) +
                        p.prior_std * at::randn({m}, generator, at::kDouble));
    }
    prior.parameters = ToVector(at::stack(columns, 1));
  }
  return prior;
}

std::shared_ptr<const EntityState> EntityFilter::IsRedelivery(const Report& report) const {
  std::shared_ptr<const EntityState> entity = table_.Find(report.entity);
  if (!entity || report.time > entity->time) return nullptr;
  const uint64_t fingerprint = ReportFingerprint(report);
  for (uint64_t recent : entity->recent) {
    if (recent == fingerprint) return entity;
  }
  return nullptr;
}

absl::Status EntityFilter::Check(const Report& report, const std::string& field) const {
  if (options_.members < 2) {
    return absl::FailedPreconditionError(absl::StrCat(
        "state estimation needs an ensemble: this model has ensemble_members = ", options_.members, " (give ≥ 2)"));
  }
  const std::shared_ptr<const EntityState> entity = table_.Find(report.entity);
  if (!entity) {
    if (table_.size() >= options_.entities.max_entities()) {
      return absl::ResourceExhaustedError(absl::StrCat(field, ".entity '", report.entity,
                                                       "' would be a new entity; the model tracks ", table_.size(),
                                                       ", its limit (entities.max_entities); delete some first"));
    }
    return absl::OkStatus();
  }
  if (report.time < entity->time) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".time ", report.time, " is before entity '", report.entity,
                                                   "''s clock ", entity->time,
                                                   ": each entity's reports must come in time order"));
  }
  const double gap = report.time - entity->time;
  if (gap > options_.entities.max_gap()) {
    return absl::OutOfRangeError(absl::StrCat(field, ".time ", report.time, " is ", gap, " after entity '",
                                              report.entity, "''s clock; the model bridges at most ",
                                              options_.entities.max_gap(), " (entities.max_gap)"));
  }
  if (gap > 0.0) {
    const std::optional<int64_t> steps =
        solvers::FixedStepsBetween(entity->time, report.time, options_.entities.max_step());
    if (!steps || *steps > options_.max_total_steps) {
      return absl::OutOfRangeError(absl::StrCat(field, ".time: bridging ", gap, " needs more than ",
                                                options_.max_total_steps, " RK4 steps of entities.max_step ",
                                                options_.entities.max_step(), " (limits.max_total_steps)"));
    }
  }
  return absl::OkStatus();
}

ReportOutcome EntityFilter::Apply(const Report& report, solvers::OnlineCalibrator& calibrator,
                                  bool* parameters_changed) {
  at::NoGradGuard no_grad;
  solvers::HybridModel& model = calibrator.mutable_model();
  *parameters_changed = false;
  const int64_t m = options_.members, d = space_->state_dim();
  ReportOutcome outcome;
  // Names were resolved at the edge; a logged report replayed under a config
  // that lost one of them fails here, before anything changes.
  for (const Reading& reading : report.readings) {
    if (!space_->FindObservable(reading.observable) || !reading.noise_std) {
      outcome.status = absl::InvalidArgumentError(
          absl::StrCat("observable '", reading.observable, "' is not in this model's config (or has no noise std)"));
      return outcome;
    }
  }
  for (const InputEvent& event : report.inputs) {
    if (!space_->FindInput(event.input)) {
      outcome.status =
          absl::InvalidArgumentError(absl::StrCat("input '", event.input, "' is not in this model's config"));
      return outcome;
    }
  }
  std::shared_ptr<const EntityState> found = table_.Find(report.entity);
  outcome.created = found == nullptr;
  EntityState entity = found ? *found : Prior(report.entity, model);
  if (outcome.created) entity.time = report.time;
  outcome.lead = report.time - entity.time;
  // The model forecasts and observes with the entity's own parameters until this returns.
  EntityParameterSwap own(model, *space_, entity.parameters);

  // The correction learned from this report's score, applied only if the report is.
  std::optional<std::pair<size_t, double>> scale_update;
  // Dropout off: the forecast must be a function of the log alone (bit-for-bit replay).
  const bool training = model.is_training();
  model.train(false);
  struct RestoreMode {
    solvers::HybridModel& model;
    bool training;
    ~RestoreMode() { model.train(training); }
  } restore_mode{model, training};

  at::Tensor members = ToTensor(entity.ensemble, m, d);
  // learn_shared: the forecast keeps its autograd graph, for the loss of the readings.
  // The graph holds every RK4 stage of every member: a gap of more than
  // kMaxLearnedValues state values (steps × members × D; ≈ 0.5 GB of graph)
  // is assimilated without a step.
  constexpr int64_t kMaxLearnedValues = 4'000'000;
  const std::optional<int64_t> steps =
      outcome.lead > 0.0 ? solvers::FixedStepsBetween(entity.time, report.time, options_.entities.max_step())
                         : std::optional<int64_t>(0);
  const bool learn = options_.entities.learn_shared() && outcome.lead > 0.0 && !report.readings.empty() && steps &&
                     *steps <= kMaxLearnedValues / std::max<int64_t>(1, m * d);
  at::Tensor forecast_graph;
  if (outcome.lead > 0.0) {
    at::AutoGradMode grad_mode(learn);
    const at::Tensor advanced = solvers::AdvanceMembers(model, members.unsqueeze(1).to(model.dtype()), entity.time,
                                                        report.time, options_.entities.max_step(),
                                                        InputRates(*space_, entity.rates).to(model.dtype()), learn)
                                    .squeeze(1)
                                    .to(at::kDouble);
    if (learn) forecast_graph = advanced;
    members = advanced.detach();
    if (!at::isfinite(members).all().item<bool>()) {
      outcome.status = NonFinite(report.entity, "forecast", options_.entities.max_step());
      return outcome;
    }
  }
  // A held gradient is applied only if the report is; dropped otherwise.
  struct HeldGradient {
    solvers::OnlineCalibrator& calibrator;
    bool held = false;
    ~HeldGradient() {
      if (held) calibrator.DiscardHeldGradient();
    }
  } held{calibrator};

  if (!report.readings.empty()) {
    std::vector<size_t> observables;
    std::vector<double> values, noise;
    for (const Reading& reading : report.readings) {
      observables.push_back(*space_->FindObservable(reading.observable));
      values.push_back(reading.value);
      noise.push_back(*reading.noise_std);
    }
    const at::Tensor observed = at::tensor(values, at::kDouble), noise_std = at::tensor(noise, at::kDouble);
    const at::Tensor predicted = PredictReadings(members, model, *space_, observables);  // [M, P]
    if (!outcome.created) {
      const size_t bucket = LeadBucket(outcome.lead);
      const at::Tensor mean = predicted.mean(0);
      const at::Tensor spread =
          (predicted.var(0, /*unbiased=*/true) + noise_std.square()).sqrt() * std::exp(log_scales_[bucket]);
      const double z = boost::math::quantile(boost::math::normal(), 0.5 + options_.coverage_level / 2.0);
      outcome.crps = solvers::CrpsGaussian(mean, spread, observed);
      outcome.coverage = solvers::Picp(mean - z * spread, mean + z * spread, observed);
      if (options_.entities.conformal_gain() > 0.0) {
        scale_update = {bucket, options_.entities.conformal_gain() * (options_.coverage_level - *outcome.coverage)};
      }
    }
    if (forecast_graph.defined()) {
      // The shared θ, φ by backprop: the readings' normalised squared
      // innovations over the members, through the forecast over the interval.
      std::vector<at::Tensor> frozen;
      for (const ObservationSpace::EntityParameter& own_parameter : space_->per_entity()) {
        frozen.push_back(RawParameter(model.physics(), space_->parameters()[own_parameter.index]));
      }
      at::AutoGradMode grad_mode(true);
      const at::Tensor loss =
          ((PredictReadings(forecast_graph, model, *space_, observables) - observed) / noise_std).square().mean();
      absl::StatusOr<double> norm = calibrator.BackwardOnLoss(loss, frozen);
      held.held = norm.ok() && *norm > 0.0;  // A non-finite gradient is skipped; the report still assimilates.
      forecast_graph = at::Tensor();
    }
    solvers::EtkfOptions etkf;
    etkf.inflation = options_.entities.inflation();
    if (options_.localization) {
      std::vector<std::vector<int64_t>> reads;
      for (const size_t o : observables) {
        reads.emplace_back();
        for (const ObservationSpace::Term& term : space_->observables()[o].terms) {
          reads.back().push_back(term.component);
        }
      }
      etkf.localization = options_.localization->Weights(reads);  // [D, P]: the state's columns only.
    }
    if (options_.entities.random_rotation()) {
      etkf.rotation_seed = (options_.seed * 0x9E3779B97F4A7C15ull ^ base::ShardHash(report.entity)) +
                           entity.reports * 0xD1B54A32D192ED03ull;
    }
    // State augmentation: member m's entity parameters and (estimate_parameters)
    // its trainable shared θ ride along with its state.
    const std::vector<at::Tensor> theta =
        options_.entities.estimate_parameters() ? model.physics().TrainableRaw() : std::vector<at::Tensor>{};
    const int64_t own_count = static_cast<int64_t>(space_->per_entity().size());
    std::vector<at::Tensor> columns = {members, own.Current()};
    for (const at::Tensor& raw : theta) columns.push_back(raw.to(at::kDouble).view({m, 1}));
    absl::StatusOr<at::Tensor> analysis =
        solvers::EtkfAnalysis(at::cat(columns, 1), predicted, observed, noise_std, etkf);
    if (!analysis.ok()) {
      outcome.status = analysis.status();
      return outcome;  // The entity and the model unchanged.
    }
    if (!at::isfinite(*analysis).all().item<bool>()) {
      outcome.status = NonFinite(report.entity, "analysis", options_.entities.max_step());
      return outcome;
    }
    // The linear update knows no bounds: members' amounts below 0 are raised to it.
    members = solvers::ClampNonNegative(model.physics().Components(), analysis->narrow(1, 0, d));
    own.Set(analysis->narrow(1, d, own_count));
    for (size_t i = 0; i < theta.size(); ++i) {
      theta[i].copy_(analysis->select(1, d + own_count + static_cast<int64_t>(i)).to(theta[i].scalar_type()));
    }
    model.physics().ClampToBounds();  // The entity's parameters too: they are in the model now.
    *parameters_changed = !theta.empty();
    if (held.held) {
      held.held = false;
      // Refused (out of bounds): undone; the state analysis stands.
      *parameters_changed = calibrator.StepHeldGradient().ok() || *parameters_changed;
    }
    entity.parameters = ToVector(own.Current());
  }

  for (const InputEvent& event : report.inputs) {
    const size_t i = *space_->FindInput(event.input);
    const ObservationSpace::Input& input = space_->inputs()[i];
    if (input.rate) {
      entity.rates[i] = event.value;
    } else {
      members.select(1, input.component) += event.value;
    }
  }
  if (scale_update) log_scales_[scale_update->first] += scale_update->second;
  entity.ensemble = ToVector(members);
  entity.time = report.time;
  entity.reports += 1;
  while (entity.recent.size() >= kRecentReports) entity.recent.erase(entity.recent.begin());
  entity.recent.push_back(ReportFingerprint(report));
  outcome.entity_reports = entity.reports;
  table_ = table_.With(std::make_shared<const EntityState>(std::move(entity)));
  return outcome;
}

absl::Status EntityFilter::Delete(const std::string& name) {
  if (!table_.Find(name)) return absl::NotFoundError(absl::StrCat("no entity '", name, "'"));
  table_ = table_.Without(name);
  return absl::OkStatus();
}

void EntityFilter::Save(v1::StoredCheckpoint& checkpoint) const {
  checkpoint.mutable_entity_log_scales()->Assign(log_scales_.begin(), log_scales_.end());
}

void EntityFilter::ToStored(const EntityState& e, v1::StoredEntity* out) const {
  out->set_name(e.name);
  out->set_time(e.time);
  out->set_reports(e.reports);
  out->mutable_ensemble()->add_shape(options_.members);
  out->mutable_ensemble()->add_shape(space_->state_dim());
  out->mutable_ensemble()->mutable_values()->Add(e.ensemble.begin(), e.ensemble.end());
  out->mutable_rates()->Add(e.rates.begin(), e.rates.end());
  out->mutable_recent_reports()->Add(e.recent.begin(), e.recent.end());
  if (!e.parameters.empty()) {
    out->mutable_parameters()->add_shape(options_.members);
    out->mutable_parameters()->add_shape(static_cast<int64_t>(space_->per_entity().size()));
    out->mutable_parameters()->mutable_values()->Add(e.parameters.begin(), e.parameters.end());
  }
}

v1::StoredEntityFile EntityFilter::Changes() const {
  EntityTable::Changes changes = table_.ChangedSince(checkpointed_);
  v1::StoredEntityFile file;
  for (const std::shared_ptr<const EntityState>& e : changes.changed) ToStored(*e, file.add_entities());
  for (std::string& name : changes.removed) file.add_deleted(std::move(name));
  return file;
}

v1::StoredEntityFile EntityFilter::Everything() const {
  v1::StoredEntityFile file;
  for (const std::shared_ptr<const EntityState>& e : table_.All()) ToStored(*e, file.add_entities());
  return file;
}

absl::Status EntityFilter::Load(const v1::StoredCheckpoint& checkpoint) {
  EntityTable table;
  for (const v1::StoredEntity& e : checkpoint.entities()) {
    const auto& shape = e.ensemble().shape();
    if (shape.size() != 2 || shape[0] != options_.members || shape[1] != space_->state_dim() ||
        e.ensemble().values_size() != options_.members * space_->state_dim() ||
        e.rates_size() != static_cast<int>(space_->inputs().size()) ||
        e.parameters().values_size() != options_.members * static_cast<int64_t>(space_->per_entity().size())) {
      return absl::InvalidArgumentError(absl::StrCat("entity '", e.name(), "' has an ensemble of another shape than ",
                                                     options_.members, " members x ", space_->state_dim(),
                                                     " components, or rates or parameters for other inputs or "
                                                     "per_entity_parameters"));
    }
    EntityState state;
    state.name = e.name();
    state.time = e.time();
    state.reports = e.reports();
    state.ensemble.assign(e.ensemble().values().begin(), e.ensemble().values().end());
    state.rates.assign(e.rates().begin(), e.rates().end());
    state.parameters.assign(e.parameters().values().begin(), e.parameters().values().end());
    const int keep = std::min<int>(e.recent_reports_size(), static_cast<int>(kRecentReports));
    state.recent.assign(e.recent_reports().end() - keep, e.recent_reports().end());
    table = table.With(std::make_shared<const EntityState>(std::move(state)));
  }
  table_ = std::move(table);
  checkpointed_ = table_;
  log_scales_.fill(0.0);
  for (int i = 0; i < checkpoint.entity_log_scales_size() && i < static_cast<int>(kLeadBuckets); ++i) {
    log_scales_[static_cast<size_t>(i)] = checkpoint.entity_log_scales(i);
  }
  return absl::OkStatus();
}

}  // namespace hybrid::server
