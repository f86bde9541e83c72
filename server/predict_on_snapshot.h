// Ensemble forecast on an immutable snapshot: the work behind Predict.
//
// Validates the query against the model (state dimension, limits), integrates
// every member with RK4 under no-grad from the given initial states to every
// output time, and summarises with solvers::SummarizeEnsemble (ensemble spread +
// the snapshot's residual variance) — or, for a model with a heteroscedastic
// head, as the Gaussian mixture of the members with the head's σ(x) at each
// forecast state, intervals being the mixture's exact quantiles.
// Errors: NOT_FOUND when the query pins a version other than the snapshot's;
// INVALID_ARGUMENT naming the field (initial_state, max_step,
// interval_levels, times); OUT_OF_RANGE for batch, output-time, step-count or ensemble-size
// limits; FAILED_PRECONDITION when the forecast diverges. Thread-safe.
#pragma once

#include "absl/status/statusor.h"
#include "hybrid/v1/model_config.pb.h"
#include "server/domain_types.h"
#include "server/model_snapshot.h"

namespace hybrid::server {

absl::StatusOr<PredictAnswer> PredictOnSnapshot(const ModelSnapshot& snapshot, const v1::ModelConfig& config,
                                                const PredictQuery& query);

}  // namespace hybrid::server
