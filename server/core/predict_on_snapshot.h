// Ensemble forecast on an immutable snapshot: the work behind Predict.
//
// Validates the query against the model (state dimension, limits), then
// forecasts with RK4 under inference mode from samples_per_member starts per
// member drawn around each initial state (std: the request's
// initial_state_std, or the model's sensor noise), the learned model error
// added as a stochastic forcing after every step (solvers/uncertainty/perturbed_forecast.h;
// draws seeded by the model's seed and version, so one version's answers
// agree). Summarised with solvers::SummarizeEnsemble: Gaussian intervals from
// the samples' spread × the conformal scale of each output time's lead bucket
// — or, for a model with a heteroscedastic head, the samples' Gaussian
// mixture with the head's σ(x), intervals its exact quantiles. The sensor
// noise is added when the query asks for a reading's interval. A query by
// entity starts member m from the entity's analysis member m, with the
// entity's own parameters (a private copy of the model) and its input rates
// in force.
// Errors: NOT_FOUND when the query pins a version other than the snapshot's;
// INVALID_ARGUMENT naming the field (initial_state, max_step,
// interval_levels, times); OUT_OF_RANGE for batch, output-time, step-count or ensemble-size
// limits; FAILED_PRECONDITION when the forecast diverges. Thread-safe.
#pragma once

#include "absl/status/statusor.h"
#include "hybrid/v1/model_config.pb.h"
#include "server/core/domain_types.h"
#include "server/core/model_snapshot.h"
#include "server/core/entities/observation_space.h"

namespace hybrid::server {

absl::StatusOr<PredictAnswer> PredictOnSnapshot(const ModelSnapshot& snapshot, const v1::ModelConfig& config,
                                                const ObservationSpace& space, const PredictQuery& query);

}  // namespace hybrid::server
