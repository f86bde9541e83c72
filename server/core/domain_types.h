// Plain C++ request and answer types of the server core.
//
// The RPC layer decodes protobuf into these (validating shapes and finiteness
// once, at the edge) and encodes answers from them, so the core needs neither
// protobuf for requests nor LibTorch in its interfaces. Arrays are row-major
// float64; `shape` gives their dimensions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace hybrid::server {

struct DenseArray {
  std::vector<int64_t> shape;
  std::vector<double> values;
};

// True when `a` is one state [dim] or a batch of states [B >= 1, dim].
inline bool IsStateOrBatch(const DenseArray& a, int64_t dim) {
  return (a.shape.size() == 1 && a.shape[0] == dim) || (a.shape.size() == 2 && a.shape[0] >= 1 && a.shape[1] == dim);
}

// How many states (or windows) a [D] or [B, D] array holds: 1 or B.
inline int64_t Rows(const DenseArray& a) { return a.shape.size() == 2 ? a.shape[0] : 1; }

// A state component's name and unit (the physics' own: solvers' StateComponent).
struct ComponentInfo {
  std::string name;
  std::string unit;  // "1": dimensionless.
};

// An input planned for a forecast (hybrid.v1.PlannedInput).
struct PlannedInput {
  double time = 0.0;  // Lead time.
  std::string input;
  double value = 0.0;
};

struct PredictQuery {
  std::string model;
  DenseArray initial_state;    // [D] or [B, D].
  std::vector<double> times;   // Strictly increasing, > 0.
  double max_step = 0.01;      // > 0.
  std::vector<double> levels;  // In (0, 1).
  int64_t ensemble_size = 0;   // Members to forecast with, the model's first ones; 0: all.
  // The message limit of the protocol that answers (the model's own
  // limits.max_answer_bytes applies too); 0: only the model's.
  int64_t max_answer_bytes = 0;
  // Set: only this model version may answer (NOT_FOUND otherwise).
  std::optional<uint64_t> version;
  // Std of the initial state per component (1 or D values ≥ 0); empty: the
  // model's sensor noise.
  std::vector<double> initial_state_std;
  bool include_observation_noise = false;  // Intervals for a reading, not the state.
  // Asked between solver steps: non-OK (DEADLINE_EXCEEDED, CANCELLED) ends the
  // forecast with that status. Unset: never.
  std::function<absl::Status()> interrupt;
  // Set: forecast this entity from its analysis ensemble (initial_state empty,
  // initial_state_std ignored); `times` are lead times after its clock.
  std::string entity;
  std::vector<PlannedInput> planned_inputs;  // What-if inputs at lead times ≥ 0.
};

struct IntervalArrays {
  double level = 0.0;
  DenseArray lower;
  DenseArray upper;
};

struct PredictAnswer {
  std::string model;
  uint64_t version = 0;
  int64_t ensemble_size = 0;  // Members the forecast used.
  std::vector<double> times;
  DenseArray mean;  // [T, D] or [T, B, D], following the initial state.
  DenseArray std;
  std::vector<IntervalArrays> intervals;
  double start_time = 0.0;                // An entity's clock; 0 for a given initial state.
  std::vector<ComponentInfo> components;  // The columns: the state's components.
};

struct Observation {
  std::string model;
  uint64_t sequence = 0;
  DenseArray start;  // [D] or [W, D].
  DenseArray end;    // Same shape.
  DenseArray mask;   // Same shape of 0/1, or empty (shape {}) when everything was observed.
  DenseArray path;   // [steps, D] or [W, steps, D] of the states after each step, or empty.
  double step = 0.0;
  int64_t steps = 0;
  // Set by the calibration worker when it logs the observation (and read back
  // by replay): on the first of a minibatch applied as one update
  // (calibration.max_observations_per_update) its size ≥ 1, 0 on the others.
  int32_t minibatch = 0;
  // Set by the RPC layer: true once the stream that sent it is gone. Checked
  // before the observation is logged; unset means never cancelled.
  std::function<bool()> cancelled;
};

// One sensor value of an entity (hybrid.v1.Reading). After ServedModel has
// validated a report, every reading has its noise std (its own or the
// observable's default).
struct Reading {
  std::string observable;
  double value = 0.0;
  std::optional<double> noise_std;
};

// A bolus or a new rate (hybrid.v1.InputEvent), by the config's input name.
struct InputEvent {
  std::string input;
  double value = 0.0;
};

// What one entity's sensors reported at one time: readings first, then inputs.
struct Report {
  std::string entity;
  double time = 0.0;
  std::vector<Reading> readings;
  std::vector<InputEvent> inputs;
};

// The reports of one Observe call, applied in order.
struct ReportBatch {
  std::string model;
  std::vector<Report> reports;
  // As Observation::cancelled: checked before each report is logged.
  std::function<bool()> cancelled;
};

struct ReportOutcome {
  absl::Status status;
  bool created = false;
  double lead = 0.0;
  std::optional<double> crps;      // Of the forecast for the readings; none for a first report.
  std::optional<double> coverage;  // Share of readings inside the coverage_level interval.
  uint64_t entity_reports = 0;
  bool duplicate = false;  // A redelivery of an applied report: OK, nothing done.
};

struct EntitySummary {
  std::string name;
  double time = 0.0;  // Its clock.
  uint64_t reports = 0;
};

struct EntityPage {
  std::vector<EntitySummary> entities;
  int64_t total = 0;
  std::string next_start_after;  // Empty: the last page.
};

struct ParameterEstimate {
  std::string name;
  double value = 0.0;  // Mean over members.
  double std = 0.0;    // Spread over members.
  std::string unit;
  bool trainable = false;
};

// One entity's state estimate as a snapshot holds it.
struct EntityView {
  EntitySummary summary;
  uint64_t version = 0;                       // Of the snapshot it was read from.
  DenseArray mean;                            // [D]
  DenseArray std;                             // [D]
  DenseArray ensemble;                        // [M, D]
  DenseArray rates;                           // [D]
  std::vector<ParameterEstimate> parameters;  // Its per-entity parameters (value: mean over members).
};

struct ObservationOutcome {
  uint64_t sequence = 0;
  absl::Status status;
  double loss = 0.0;
  double coverage = 0.0;
  double coverage_level = 0.0;
  double gradient_norm = 0.0;
  std::vector<ParameterEstimate> parameters;
  uint64_t version = 0;
};

struct DurabilityInfo {
  bool enabled = false;
  uint64_t last_logged = 0;  // Write-ahead-log sequence number of the newest record.
  int64_t wal_bytes = 0;
  std::vector<uint64_t> checkpoint_versions;  // Ascending: Rollback targets.
  int64_t last_checkpoint_unix_ms = -1;       // -1: none yet.
  int64_t replayed_at_start = 0;              // Log records re-applied by the last start-up.
};

// How calibration is going, as the calibration worker publishes it; GetModel,
// the status page and the Prometheus gauges all read this one record.
// The online skill of an entity model's forecasts in one lead bucket
// (lead_buckets.h): exponentially weighted (0.02) over the reports scored there.
struct OnlineSkill {
  std::string lead_le;  // Upper edge of the bucket, as Prometheus' `le`.
  int64_t reports = 0;
  double crps = 0.0;
  double coverage = 0.0;
};

struct CalibrationStatus {
  std::optional<double> loss;      // Window MSE of the latest accepted observation; none before the first.
  std::optional<double> coverage;  // Rolling interval coverage of arriving observations; none before data.
  double coverage_target = 0.0;    // The interval level coverage should reach (calibration.coverage_level).
  int64_t queue_depth = 0;         // Observations waiting for the worker.
  std::vector<OnlineSkill> online;  // Lead buckets with scored reports, shortest first.
};

struct ModelInfo {
  std::string name;
  std::string description;
  uint64_t version = 0;
  uint64_t observations_accepted = 0;
  std::vector<ParameterEstimate> parameters;
  DurabilityInfo durability;
  CalibrationStatus calibration;
  std::vector<ComponentInfo> components;  // The state's, in order (state_dim of them).
  int64_t entities = 0;                   // Tracked entities.
};

}  // namespace hybrid::server
