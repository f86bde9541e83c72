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
//
// PredictTogetherOnSnapshot answers queries that all SharesForecast with one
// another (dynamic batching) with one solve of their stacked initial states,
// each query validated, summarised and answered on its own (an invalid one
// gets its error, the rest their answers); each answer is the one
// PredictOnSnapshot gives (perturbed_forecast.h says how exactly). The solve
// stops early only when every query's interrupt asks it to.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "hybrid/v1/model_config.pb.h"
#include "server/core/domain_types.h"
#include "server/core/entities/observation_space.h"
#include "server/core/model_snapshot.h"

namespace hybrid::server {

absl::StatusOr<PredictAnswer> PredictOnSnapshot(const ModelSnapshot& snapshot, const v1::ModelConfig& config,
                                                const ObservationSpace& space, const PredictQuery& query);

// Whether a and b can be forecast in one solve: the same grid (output times,
// max_step), members, start noise and pinned version, neither by entity nor
// with planned inputs. What differs is summarised per query (levels,
// include_observation_noise, answer limits, interrupt).
bool SharesForecast(const PredictQuery& a, const PredictQuery& b);

// One answer per query, in order; the queries must share a forecast pairwise.
std::vector<absl::StatusOr<PredictAnswer>> PredictTogetherOnSnapshot(const ModelSnapshot& snapshot,
                                                                     const v1::ModelConfig& config,
                                                                     const ObservationSpace& space,
                                                                     absl::Span<const PredictQuery* const> queries);

}  // namespace hybrid::server
