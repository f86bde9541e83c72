// Message codec: hybrid.v1 requests → core queries, core answers → responses.
//
// Decoding validates what can be checked without the model (tensors, time
// grids, required fields) and fails with INVALID_ARGUMENT naming the field;
// model-specific checks (dimensions, limits) happen in the core. Pure
// functions, thread-safe.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hybrid/v1/hybrid_service.pb.h"
#include "server/core/domain_types.h"

namespace hybrid::server::rpc {

// Output grid: either explicit times or horizon/step (k·step, k = 1…, the last
// one at `horizon` when it is within 1e-9·horizon of a multiple).
absl::StatusOr<PredictQuery> DecodePredictRequest(const v1::PredictRequest& request);
v1::PredictResponse EncodePredictAnswer(const PredictAnswer& answer);

absl::StatusOr<Observation> DecodeCalibrateRequest(const v1::CalibrateRequest& request);
v1::CalibrateResponse EncodeOutcome(const ObservationOutcome& outcome);
// In-stream answer for an observation the server did not accept.
v1::CalibrateResponse EncodeRejection(uint64_t sequence, const absl::Status& status);

// Names are checked by the model (observation_space.h), which knows them.
ReportBatch DecodeObserveRequest(const v1::ObserveRequest& request);
void EncodeReportOutcome(const ReportOutcome& outcome, v1::ReportOutcome* out);
void EncodeEntitySummary(const EntitySummary& entity, v1::EntitySummary* out);
void EncodeComponents(const std::vector<ComponentInfo>& components,
                      google::protobuf::RepeatedPtrField<v1::StateComponent>* out);

void EncodeParameters(const std::vector<ParameterEstimate>& parameters,
                      google::protobuf::RepeatedPtrField<v1::ParameterEstimate>* out);

}  // namespace hybrid::server::rpc
