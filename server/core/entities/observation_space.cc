#include "server/core/entities/observation_space.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/model_name.h"

namespace hybrid::server {
namespace {

absl::StatusOr<int64_t> ComponentIndex(const std::map<std::string, int64_t>& components, const std::string& name,
                                       const std::string& field) {
  const auto it = components.find(name);
  if (it != components.end()) return it->second;
  std::vector<std::string> known;
  for (const auto& [n, i] : components) known.push_back(n);
  if (known.size() > 12) known.resize(12), known.push_back("…");
  return absl::InvalidArgumentError(
      absl::StrCat(field, " '", name, "' is not a state component of this model (", absl::StrJoin(known, ", "), ")"));
}

absl::StatusOr<size_t> ParameterIndex(const std::vector<ObservationSpace::Parameter>& parameters,
                                      const std::string& name, const std::string& field) {
  std::vector<std::string> known;
  for (size_t i = 0; i < parameters.size(); ++i) {
    if (parameters[i].name == name) return i;
    known.push_back(parameters[i].name);
  }
  return absl::InvalidArgumentError(absl::StrCat(field, " '", name, "' is not a parameter of this model's physics (",
                                                 absl::StrJoin(known, ", "), ")"));
}

}  // namespace

absl::StatusOr<ObservationSpace> ObservationSpace::Create(const v1::ModelConfig& config,
                                                          const std::vector<ComponentInfo>& components,
                                                          const std::vector<Parameter>& parameters) {
  ObservationSpace space;
  space.parameters_ = parameters;
  space.state_dim_ = static_cast<int64_t>(components.size());
  space.limits_ = config.entities();
  const auto& noise = config.uncertainty().observation_noise_std();
  if (noise.size() > 1 && noise.size() != static_cast<int>(components.size())) {
    return absl::InvalidArgumentError(absl::StrCat("uncertainty.observation_noise_std has ", noise.size(),
                                                   " values; give 1 (every component) or ", components.size()));
  }
  std::map<std::string, int64_t> component_index;
  for (size_t i = 0; i < components.size(); ++i) {
    Observable o;
    o.name = components[i].name;
    o.unit = components[i].unit;
    o.terms = {Term{static_cast<int64_t>(i), 1.0, std::nullopt}};
    if (!noise.empty() && noise[noise.size() == 1 ? 0 : static_cast<int>(i)] > 0.0) {
      o.noise_std = noise[noise.size() == 1 ? 0 : static_cast<int>(i)];
    }
    component_index[o.name] = static_cast<int64_t>(i);
    space.observable_index_[o.name] = space.observables_.size();
    space.observables_.push_back(std::move(o));
  }
  int64_t scripted_columns = 0;
  for (int i = 0; i < config.observables_size(); ++i) {
    const v1::ObservableConfig& c = config.observables(i);
    const std::string field = absl::StrCat("observables[", i, "]");
    if (c.name().empty()) return absl::InvalidArgumentError(absl::StrCat(field, ".name must be set"));
    if (space.observable_index_.count(c.name()) > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".name '", c.name(), "' is already an observable (a state component or an earlier one)"));
    }
    if (c.scripted() && config.physics() != v1::PHYSICS_KIND_TORCHSCRIPT) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".scripted: only for physics PHYSICS_KIND_TORCHSCRIPT"));
    }
    if (c.scripted() && !c.terms().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".terms: a scripted observable is the module's, not a sum"));
    }
    if (c.scripted() && config.entities().localization_radius() > 0.0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field,
                       ".scripted: entities.localization_radius needs the components each reading reads; a scripted "
                       "observable does not say"));
    }
    if (c.terms().empty() && !c.scripted()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".terms must not be empty"));
    }
    if (!(c.noise_std() >= 0.0) || !std::isfinite(c.noise_std())) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".noise_std must be finite and ≥ 0"));
    }
    Observable o;
    o.name = c.name();
    o.unit = c.unit();
    if (c.noise_std() > 0.0) o.noise_std = c.noise_std();
    if (c.scripted()) o.scripted = scripted_columns++;
    for (int j = 0; j < c.terms_size(); ++j) {
      const std::string term = absl::StrCat(field, ".terms[", j, "]");
      absl::StatusOr<int64_t> index = ComponentIndex(component_index, c.terms(j).component(), term + ".component");
      if (!index.ok()) return index.status();
      if (!std::isfinite(c.terms(j).weight())) {
        return absl::InvalidArgumentError(absl::StrCat(term, ".weight must be finite"));
      }
      std::optional<size_t> divided_by;
      if (!c.terms(j).divided_by().empty()) {
        absl::StatusOr<size_t> p = ParameterIndex(parameters, c.terms(j).divided_by(), term + ".divided_by");
        if (!p.ok()) return p.status();
        divided_by = *p;
      }
      o.terms.push_back({*index, c.terms(j).weight(), divided_by});
    }
    space.observable_index_[o.name] = space.observables_.size();
    space.observables_.push_back(std::move(o));
  }
  for (int i = 0; i < config.inputs_size(); ++i) {
    const v1::InputConfig& c = config.inputs(i);
    const std::string field = absl::StrCat("inputs[", i, "]");
    if (c.name().empty()) return absl::InvalidArgumentError(absl::StrCat(field, ".name must be set"));
    if (space.input_index_.count(c.name()) > 0) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".name '", c.name(), "' is already an input"));
    }
    absl::StatusOr<int64_t> index = ComponentIndex(component_index, c.component(), field + ".component");
    if (!index.ok()) return index.status();
    space.input_index_[c.name()] = space.inputs_.size();
    space.inputs_.push_back({c.name(), c.unit(), *index, c.kind() == v1::INPUT_KIND_RATE});
  }
  const v1::EntityConfig& e = config.entities();
  const int dim = static_cast<int>(components.size());
  if (e.prior_mean_size() > 1 && e.prior_mean_size() != dim) {
    return absl::InvalidArgumentError(absl::StrCat("entities.prior_mean has ", e.prior_mean_size(),
                                                   " values; give 1 (every component) or ", dim));
  }
  if (e.prior_std_size() > 1 && e.prior_std_size() != dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("entities.prior_std has ", e.prior_std_size(), " values; give 1 (every component) or ", dim));
  }
  if (e.per_entity_prior_std_size() > 1 && e.per_entity_prior_std_size() != e.per_entity_parameters_size()) {
    return absl::InvalidArgumentError(absl::StrCat("entities.per_entity_prior_std has ", e.per_entity_prior_std_size(),
                                                   " values; give 1 (all) or one per per_entity_parameters (",
                                                   e.per_entity_parameters_size(), ")"));
  }
  for (int i = 0; i < e.per_entity_parameters_size(); ++i) {
    const std::string field = absl::StrCat("entities.per_entity_parameters[", i, "]");
    absl::StatusOr<size_t> index = ParameterIndex(parameters, e.per_entity_parameters(i), field);
    if (!index.ok()) return index.status();
    for (const EntityParameter& earlier : space.per_entity_) {
      if (earlier.index == *index) return absl::InvalidArgumentError(absl::StrCat(field, " is listed twice"));
    }
    const double std = e.per_entity_prior_std().empty()     ? 0.3
                       : e.per_entity_prior_std_size() == 1 ? e.per_entity_prior_std(0)
                                                            : e.per_entity_prior_std(i);
    if (!(std > 0.0) || !std::isfinite(std)) {
      return absl::InvalidArgumentError(
          absl::StrCat("entities.per_entity_prior_std must be finite and > 0, got ", std));
    }
    space.per_entity_.push_back({e.per_entity_parameters(i), *index, parameters[*index].positive, std});
  }
  return space;
}

std::optional<size_t> ObservationSpace::FindObservable(const std::string& name) const {
  const auto it = observable_index_.find(name);
  return it == observable_index_.end() ? std::nullopt : std::optional<size_t>(it->second);
}

std::optional<size_t> ObservationSpace::FindInput(const std::string& name) const {
  const auto it = input_index_.find(name);
  return it == input_index_.end() ? std::nullopt : std::optional<size_t>(it->second);
}

absl::Status ObservationSpace::Resolve(ReportBatch& batch) const {
  if (batch.reports.empty()) return absl::InvalidArgumentError("reports must not be empty");
  if (static_cast<int64_t>(batch.reports.size()) > limits_.max_reports_per_request()) {
    return absl::OutOfRangeError(absl::StrCat("reports has ", batch.reports.size(),
                                              " reports; the model takes at most ", limits_.max_reports_per_request(),
                                              " per request (entities.max_reports_per_request)"));
  }
  for (size_t r = 0; r < batch.reports.size(); ++r) {
    Report& report = batch.reports[r];
    const std::string field = absl::StrCat("reports[", r, "]");
    if (absl::Status s = base::ValidateEntityName(report.entity, field + ".entity"); !s.ok()) return s;
    if (!std::isfinite(report.time)) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".time must be finite, got ", report.time));
    }
    if (report.readings.empty() && report.inputs.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(field, " has neither readings nor inputs"));
    }
    if (static_cast<int64_t>(report.readings.size() + report.inputs.size()) > limits_.max_readings_per_report()) {
      return absl::OutOfRangeError(absl::StrCat(field, " has ", report.readings.size() + report.inputs.size(),
                                                " readings and inputs; the model takes at most ",
                                                limits_.max_readings_per_report(),
                                                " (entities.max_readings_per_report)"));
    }
    for (size_t i = 0; i < report.readings.size(); ++i) {
      Reading& reading = report.readings[i];
      const std::string at = absl::StrCat(field, ".readings[", i, "]");
      const std::optional<size_t> index = FindObservable(reading.observable);
      if (!index) {
        return absl::InvalidArgumentError(absl::StrCat(at, ".observable '", reading.observable,
                                                       "' is not an observable of model '", batch.model,
                                                       "' (GetModel lists its state components; the config its "
                                                       "observables)"));
      }
      if (!std::isfinite(reading.value)) {
        return absl::InvalidArgumentError(absl::StrCat(at, ".value must be finite, got ", reading.value));
      }
      if (reading.noise_std) {
        if (!(*reading.noise_std > 0.0) || !std::isfinite(*reading.noise_std)) {
          return absl::InvalidArgumentError(
              absl::StrCat(at, ".noise_std must be finite and > 0, got ", *reading.noise_std));
        }
      } else if (observables_[*index].noise_std) {
        reading.noise_std = observables_[*index].noise_std;
      } else {
        return absl::InvalidArgumentError(absl::StrCat(at, ".noise_std must be given: observable '", reading.observable,
                                                       "' has no default noise std in the config"));
      }
    }
    for (size_t i = 0; i < report.inputs.size(); ++i) {
      const InputEvent& input = report.inputs[i];
      const std::string at = absl::StrCat(field, ".inputs[", i, "]");
      if (!FindInput(input.input)) {
        std::vector<std::string> known;
        for (const Input& in : inputs_) known.push_back(in.name);
        return absl::InvalidArgumentError(
            absl::StrCat(at, ".input '", input.input, "' is not an input of model '", batch.model,
                         "' (it has: ", known.empty() ? "none" : absl::StrJoin(known, ", "), ")"));
      }
      if (!std::isfinite(input.value)) {
        return absl::InvalidArgumentError(absl::StrCat(at, ".value must be finite, got ", input.value));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace hybrid::server
