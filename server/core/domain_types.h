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
  // Set by the RPC layer: true once the stream that sent it is gone. Checked
  // before the observation is logged; unset means never cancelled.
  std::function<bool()> cancelled;
};

struct ParameterEstimate {
  std::string name;
  double value = 0.0;  // Mean over members.
  double std = 0.0;    // Spread over members.
  std::string unit;
  bool trainable = false;
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
struct CalibrationStatus {
  std::optional<double> loss;      // Window MSE of the latest accepted observation; none before the first.
  std::optional<double> coverage;  // Rolling interval coverage of arriving observations; none before data.
  double coverage_target = 0.0;    // The interval level coverage should reach (calibration.coverage_level).
  int64_t queue_depth = 0;         // Observations waiting for the worker.
};

// A state component's name and unit (the physics' own: solvers' StateComponent).
struct ComponentInfo {
  std::string name;
  std::string unit;  // "1": dimensionless.
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
};

}  // namespace hybrid::server
