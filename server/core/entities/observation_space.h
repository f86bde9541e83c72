// ObservationSpace: what a model's sensors can read of an entity and what
// clients can do to it — the observables (every state component by its own
// name, then the config's linear combinations) and the inputs (boluses and
// rates into named components), the parameters each entity has its own
// value of — and the checks a report gets at the edge.
//
//   absl::StatusOr<ObservationSpace> space = ObservationSpace::Create(config, components);
//   if (absl::Status s = space->Resolve(batch); !s.ok()) return s;   // before queueing
//
// Resolve refuses a batch as a whole, changing nothing: INVALID_ARGUMENT
// naming the field (reports[3].readings[1].observable) for a bad entity name,
// a non-finite time or value, an unknown observable or input, a noise std
// that is not finite and > 0, or a reading without one whose observable has
// no default; OUT_OF_RANGE for more reports or readings than entities.*
// allows. It fills every reading's noise std, so that the log records what
// was applied. Immutable after Create; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "hybrid/v1/model_config.pb.h"
#include "server/core/domain_types.h"

namespace hybrid::server {

class ObservationSpace {
 public:
  // The physics' parameters, in order (solvers' ParameterSpec, torch-free).
  struct Parameter {
    std::string name;
    bool positive = true;  // Stored as log(value).
    std::string unit;
  };
  struct Term {
    int64_t component = 0;
    double weight = 1.0;
    std::optional<size_t> divided_by;  // A parameter's index: weight · x[component] / θ.
  };
  struct Observable {
    std::string name;
    std::string unit;
    std::vector<Term> terms;          // The reading is the sum of the terms,
    std::optional<int64_t> scripted;  // or this column of the TorchScript physics' observe (no terms).
    std::optional<double> noise_std;  // Default std of a reading.
  };
  struct EntityParameter {
    std::string name;
    size_t index = 0;  // In the physics' parameters.
    bool positive = true;
    double prior_std = 0.3;  // Of the raw value (log, for positive ones).
  };
  struct Input {
    std::string name;
    std::string unit;
    int64_t component = 0;
    bool rate = false;  // false: a bolus.
  };

  // INVALID_ARGUMENT naming the config field (observables[1].terms[0].component,
  // inputs[0].component, entities.per_entity_parameters[0], a duplicate name,
  // uncertainty.observation_noise_std of the wrong length).
  static absl::StatusOr<ObservationSpace> Create(const v1::ModelConfig& config,
                                                 const std::vector<ComponentInfo>& components,
                                                 const std::vector<Parameter>& parameters);

  absl::Status Resolve(ReportBatch& batch) const;

  int64_t state_dim() const { return state_dim_; }
  const std::vector<Observable>& observables() const { return observables_; }
  const std::vector<Input>& inputs() const { return inputs_; }
  const std::vector<Parameter>& parameters() const { return parameters_; }
  const std::vector<EntityParameter>& per_entity() const { return per_entity_; }
  std::optional<size_t> FindObservable(const std::string& name) const;
  std::optional<size_t> FindInput(const std::string& name) const;

 private:
  int64_t state_dim_ = 0;
  v1::EntityConfig limits_;
  std::vector<Observable> observables_;
  std::vector<Input> inputs_;
  std::vector<Parameter> parameters_;
  std::vector<EntityParameter> per_entity_;
  std::map<std::string, size_t> observable_index_;
  std::map<std::string, size_t> input_index_;
};

}  // namespace hybrid::server
