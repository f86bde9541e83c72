#include "server/core/entity_filter.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

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

}  // namespace

EntityFilter::EntityFilter(std::shared_ptr<const ObservationSpace> space, Options options)
    : space_(std::move(space)), options_(std::move(options)) {}

EntityState EntityFilter::Prior(const std::string& name) const {
  const int64_t m = options_.members, d = space_->state_dim();
  std::vector<double> mean(static_cast<size_t>(d)), std(static_cast<size_t>(d));
  for (int64_t i = 0; i < d; ++i) {
    mean[static_cast<size_t>(i)] = PerComponent(options_.entities.prior_mean(), i, 0.0);
    std[static_cast<size_t>(i)] = PerComponent(options_.entities.prior_std(), i, 1.0);
  }
  at::Generator generator = at::detail::createCPUGenerator(options_.seed * 0x9E3779B97F4A7C15ull ^ base::ShardHash(name));
  const at::Tensor members = at::tensor(mean, at::kDouble) +
                             at::tensor(std, at::kDouble) * at::randn({m, d}, generator, at::kDouble);
  EntityState prior;
  prior.name = name;
  prior.ensemble = ToVector(members);
  prior.rates.assign(space_->inputs().size(), 0.0);
  return prior;
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
    const std::optional<int64_t> steps = solvers::FixedStepsBetween(entity->time, report.time,
                                                                    options_.entities.max_step());
    if (!steps || *steps > options_.max_total_steps) {
      return absl::OutOfRangeError(absl::StrCat(field, ".time: bridging ", gap, " needs more than ",
                                                options_.max_total_steps, " RK4 steps of entities.max_step ",
                                                options_.entities.max_step(), " (limits.max_total_steps)"));
    }
  }
  return absl::OkStatus();
}

ReportOutcome EntityFilter::Apply(const Report& report, solvers::HybridModel& model, bool* parameters_changed) {
  at::NoGradGuard no_grad;
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
      outcome.status = absl::InvalidArgumentError(absl::StrCat("input '", event.input, "' is not in this model's config"));
      return outcome;
    }
  }
  std::shared_ptr<const EntityState> found = table_.Find(report.entity);
  outcome.created = found == nullptr;
  EntityState entity = found ? *found : Prior(report.entity);
  if (outcome.created) entity.time = report.time;
  outcome.lead = report.time - entity.time;

  at::Tensor members = ToTensor(entity.ensemble, m, d);
  if (outcome.lead > 0.0) {
    at::Tensor rate = at::zeros({d}, at::kDouble);
    for (size_t i = 0; i < space_->inputs().size(); ++i) {
      if (entity.rates[i] != 0.0) rate[space_->inputs()[i].component] += entity.rates[i];
    }
    members = solvers::AdvanceMembers(model, members.unsqueeze(1).to(model.dtype()), entity.time, report.time,
                                      options_.entities.max_step(), rate.to(model.dtype()))
                  .squeeze(1)
                  .to(at::kDouble);
    if (!at::isfinite(members).all().item<bool>()) {
      outcome.status = absl::FailedPreconditionError(absl::StrCat(
          "entity '", report.entity, "': its forecast became non-finite; the report was not applied (is "
          "entities.max_step ", options_.entities.max_step(), " small enough for these dynamics?)"));
      return outcome;
    }
  }

  if (!report.readings.empty()) {
    const int64_t p = static_cast<int64_t>(report.readings.size());
    at::Tensor h = at::zeros({p, d}, at::kDouble);
    std::vector<double> values, noise;
    for (int64_t r = 0; r < p; ++r) {
      const Reading& reading = report.readings[static_cast<size_t>(r)];
      const ObservationSpace::Observable& o = space_->observables()[*space_->FindObservable(reading.observable)];
      for (const auto& [component, weight] : o.terms) h[r][component] += weight;
      values.push_back(reading.value);
      noise.push_back(*reading.noise_std);
    }
    const at::Tensor observed = at::tensor(values, at::kDouble), noise_std = at::tensor(noise, at::kDouble);
    const at::Tensor predicted = at::matmul(members, h.t());  // [M, P]
    if (!outcome.created) {
      const at::Tensor mean = predicted.mean(0);
      const at::Tensor spread = (predicted.var(0, /*unbiased=*/true) + noise_std.square()).sqrt();
      const double z = boost::math::quantile(boost::math::normal(), 0.5 + options_.coverage_level / 2.0);
      outcome.crps = solvers::CrpsGaussian(mean, spread, observed);
      outcome.coverage = solvers::Picp(mean - z * spread, mean + z * spread, observed);
    }
    solvers::EtkfOptions etkf;
    etkf.inflation = options_.entities.inflation();
    // State augmentation: member m's trainable θ rides along with its state.
    const std::vector<at::Tensor> theta =
        options_.entities.estimate_parameters() ? model.physics().TrainableRaw() : std::vector<at::Tensor>{};
    std::vector<at::Tensor> columns = {members};
    for (const at::Tensor& raw : theta) columns.push_back(raw.to(at::kDouble).view({m, 1}));
    absl::StatusOr<at::Tensor> analysis =
        solvers::EtkfAnalysis(at::cat(columns, 1), predicted, observed, noise_std, etkf);
    if (!analysis.ok()) {
      outcome.status = analysis.status();
      return outcome;  // The entity and the model unchanged.
    }
    if (!at::isfinite(*analysis).all().item<bool>()) {
      outcome.status = absl::FailedPreconditionError(absl::StrCat(
          "entity '", report.entity, "': the analysis became non-finite; the report was not applied (is "
          "entities.max_step ", options_.entities.max_step(), " small enough for these dynamics?)"));
      return outcome;
    }
    members = analysis->narrow(1, 0, d);
    for (size_t i = 0; i < theta.size(); ++i) {
      theta[i].copy_(analysis->select(1, d + static_cast<int64_t>(i)).to(theta[i].scalar_type()));
    }
    if (!theta.empty()) {
      model.physics().ClampToBounds();
      *parameters_changed = true;
    }
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
  entity.ensemble = ToVector(members);
  entity.time = report.time;
  entity.reports += 1;
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
  checkpoint.clear_entities();
  for (const std::shared_ptr<const EntityState>& e : table_.All()) {
    v1::StoredEntity* out = checkpoint.add_entities();
    out->set_name(e->name);
    out->set_time(e->time);
    out->set_reports(e->reports);
    out->mutable_ensemble()->add_shape(options_.members);
    out->mutable_ensemble()->add_shape(space_->state_dim());
    out->mutable_ensemble()->mutable_values()->Add(e->ensemble.begin(), e->ensemble.end());
    out->mutable_rates()->Add(e->rates.begin(), e->rates.end());
  }
}

absl::Status EntityFilter::Load(const v1::StoredCheckpoint& checkpoint) {
  EntityTable table;
  for (const v1::StoredEntity& e : checkpoint.entities()) {
    const auto& shape = e.ensemble().shape();
    if (shape.size() != 2 || shape[0] != options_.members || shape[1] != space_->state_dim() ||
        e.ensemble().values_size() != options_.members * space_->state_dim() ||
        e.rates_size() != static_cast<int>(space_->inputs().size())) {
      return absl::InvalidArgumentError(absl::StrCat("entity '", e.name(), "' has an ensemble of another shape than ",
                                                     options_.members, " members x ", space_->state_dim(),
                                                     " components, or rates for other inputs"));
    }
    EntityState state;
    state.name = e.name();
    state.time = e.time();
    state.reports = e.reports();
    state.ensemble.assign(e.ensemble().values().begin(), e.ensemble().values().end());
    state.rates.assign(e.rates().begin(), e.rates().end());
    table = table.With(std::make_shared<const EntityState>(std::move(state)));
  }
  table_ = std::move(table);
  return absl::OkStatus();
}

}  // namespace hybrid::server
