// EntityFilter: a model's entities as its calibration worker tracks them —
// the state estimation of issue 18 served online. For each report of an
// entity (server/core/domain_types.h Report) it:
//   1. creates the entity on its first report, its M members drawn from the
//      prior (entities.prior_mean / prior_std; its own parameters around the
//      model members' values, entities.per_entity_prior_std) with the config's
//      seed and the entity's name, so that a replay of the log draws the same;
//   2. advances every member from the entity's clock to the report's time
//      through the hybrid model, member m by model member m (its own θ, φ),
//      with the input rates in force (solvers/assimilation/member_forecast.h);
//   3. scores the forecast it had for the readings — each reading as a
//      Gaussian from the members' spread of the observable plus the reading's
//      noise: CRPS and whether the central coverage_level interval holds it;
//   4. moves the members and their own parameters towards the readings with
//      the ETKF (solvers/assimilation/ensemble_transform_kalman.h,
//      entities.inflation, random_rotation), the observables being sums of
//      components, each optionally over a parameter (observation_space.h);
//      with Options.localization (entities.localization_radius), the LETKF:
//      each component moves with the readings near it on the field's grid,
//      the parameters with all of them;
//   5. applies the report's inputs: a bolus adds to its component in every
//      member, a rate replaces that input's rate from now on.
// The score of step 3 uses the spread scaled by the online interval
// correction of the report's lead bucket, which it then updates (entities.
// conformal_gain; forecasts by entity use the same scales).
// With entities.estimate_parameters, step 4 augments every member's state
// with that member's trainable θ (raw: log of positive parameters), so the
// analysis moves the model's shared parameter ensemble too (state
// augmentation; the outcome says so, and the model has a new version).
// With entities.learn_shared, between steps 3 and 4 the forecast of step 2 is
// differentiated: the mean over members and readings of ((h(x) − y) / σ)²
// through the RK4 interval into the model's trainable θ and φ (not the
// entity's own parameters), and the calibrator takes one Adam step on it
// (OnlineCalibrator::BackwardOnLoss) once the analysis has succeeded: the
// shared parameters learn from every entity's stream, the model has a new
// version. A step that would leave the bounds is undone; the report stands.
//
//   EntityFilter filter(space, options);
//   if (absl::Status s = filter.Check(report, "reports[0]"); !s.ok()) ...   // before logging
//   ReportOutcome o = filter.Apply(report, model);                           // after logging
//   publish(filter.table());
//
// A report equal to one of the entity's latest kRecentReports (by
// ReportFingerprint) is a redelivery: IsRedelivery says so before Check, and
// the worker answers it OK without logging or applying it again.
// Check refuses, naming the field: INVALID_ARGUMENT for a time before the
// entity's clock; OUT_OF_RANGE for a gap longer than entities.max_gap or one
// needing more RK4 steps than limits.max_total_steps; RESOURCE_EXHAUSTED for a
// new entity beyond entities.max_entities; FAILED_PRECONDITION for a model of
// fewer than 2 members (an ensemble filter needs a spread). Apply is
// deterministic (a replay reproduces every entity bit for bit); it may throw
// from LibTorch (the worker catches it, the table unchanged). Worker thread
// only: not thread-safe; the tables it hands out are immutable.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "hybrid/v1/model_config.pb.h"
#include "hybrid/v1/storage.pb.h"
#include "server/core/domain_types.h"
#include "server/core/entities/entity_table.h"
#include "server/core/entities/lead_buckets.h"
#include "server/core/entities/observation_space.h"
#include "solvers/assimilation/grid_localization.h"
#include "solvers/calibration/online_calibrator.h"
#include "solvers/hybrid/hybrid_model.h"

namespace hybrid::server {

// The raw tensor ([M]: log of a positive parameter) of one physics parameter.
at::Tensor RawParameter(const solvers::ScientificModel& physics, const ObservationSpace::Parameter& parameter);
// Rates of the config's inputs (one each, 0 for boluses) as a forcing per component, [D] float64.
at::Tensor InputRates(const ObservationSpace& space, const std::vector<double>& rates);
// What members read of `observables` (indices in space), with the model's
// current θ: members [K ≤ M, D] → [K, P], or [K, N, D] → [K, N, P] (row k:
// member k's θ), float64.
at::Tensor PredictReadings(const at::Tensor& members, const solvers::HybridModel& model, const ObservationSpace& space,
                           const std::vector<size_t>& observables);

// Puts an entity's own parameters (raw [M', P], row-major, M' ≥ the model's
// members: the first rows are used) into the model for its lifetime and puts
// the model's own back after. Nothing to do without per-entity parameters.
// Not thread-safe: the model's owner only (the worker, or a Predict's own copy).
class EntityParameterSwap {
 public:
  EntityParameterSwap(solvers::HybridModel& model, const ObservationSpace& space, const std::vector<double>& raw);
  ~EntityParameterSwap();
  EntityParameterSwap(const EntityParameterSwap&) = delete;
  EntityParameterSwap& operator=(const EntityParameterSwap&) = delete;
  at::Tensor Current() const;        // [M, P] of the entity's values as the model holds them now.
  void Set(const at::Tensor& raw);   // [M, P]
  void Keep() { tensors_.clear(); }  // Leaves the entity's values in the model.

 private:
  solvers::ScientificModel& physics_;
  std::vector<at::Tensor> tensors_;  // The model's own parameter tensors.
  std::vector<at::Tensor> saved_;
};

// How many of an entity's latest reports redelivery detection remembers.
inline constexpr size_t kRecentReports = 16;
// A 64-bit hash (FNV-1a) of every field of a report, bit-exact in its numbers.
uint64_t ReportFingerprint(const Report& report);

class EntityFilter {
 public:
  struct Options {
    v1::EntityConfig entities;    // With defaults applied.
    double coverage_level = 0.9;  // Of the scored interval.
    uint64_t seed = 0;
    int64_t max_total_steps = 100000;
    int64_t members = 2;
    // Set (entities.localization_radius > 0): local analyses on the model's grid.
    std::shared_ptr<const solvers::GridLocalization> localization;
  };

  EntityFilter(std::shared_ptr<const ObservationSpace> space, Options options);

  // The entity it names, when `report` equals one of that entity's recent reports.
  std::shared_ptr<const EntityState> IsRedelivery(const Report& report) const;
  absl::Status Check(const Report& report, const std::string& field) const;
  // The calibrator's model is changed only with estimate_parameters or
  // learn_shared (then `*parameters_changed`).
  ReportOutcome Apply(const Report& report, solvers::OnlineCalibrator& calibrator, bool* parameters_changed);
  // NOT_FOUND when there is no such entity.
  absl::Status Delete(const std::string& name);

  const EntityTable& table() const { return table_; }
  // exp of these scales entity forecasts' spread, per lead bucket (lead_buckets.h).
  const std::array<double, kLeadBuckets>& log_scales() const { return log_scales_; }
  const ObservationSpace& space() const { return *space_; }

  // Into a checkpoint: Save puts the online interval correction in it, the
  // entities go to its entity files (ModelDurability::WriteCheckpoint): those
  // changed and deleted since the last checkpoint (Changes), or all of them
  // (Everything). Checkpointed says that checkpoint is durable: changes count
  // from the table as it is now. Load replaces the table with a checkpoint's
  // (resolved) entities, changes counting from it (INVALID_ARGUMENT naming the
  // entity when its ensemble does not fit the model).
  void Save(v1::StoredCheckpoint& checkpoint) const;
  v1::StoredEntityFile Changes() const;
  v1::StoredEntityFile Everything() const;
  void Checkpointed() { checkpointed_ = table_; }
  absl::Status Load(const v1::StoredCheckpoint& checkpoint);

 private:
  EntityState Prior(const std::string& name, const solvers::HybridModel& model) const;
  void ToStored(const EntityState& e, v1::StoredEntity* out) const;

  const std::shared_ptr<const ObservationSpace> space_;
  const Options options_;
  EntityTable table_;
  EntityTable checkpointed_;  // As the last checkpoint written or loaded holds it.
  std::array<double, kLeadBuckets> log_scales_{};
};

}  // namespace hybrid::server
