// The Open Inference Protocol (KServe v2) ↔ hybrid.v1 Predict.
//
// ModelInfer request:
//   inputs      "initial_state" FP64|FP32 [D] or [B, D]; "times" FP64|FP32 [T]: the output times
//               (strictly increasing, after 0). Values in `contents` (fp64_contents / fp32_contents)
//               or, for every input, in raw_input_contents (row-major, little-endian).
//   parameters  "interval_level" string in (0, 1), default "0.9"; "ensemble_size" int64 (0: all);
//               "max_step" string > 0, the largest RK4 step (default 0.01).
//   outputs     any of "mean", "std", "lower", "upper" (none listed: all four, in that order).
//   model_version is ignored: the model's latest version answers and is reported.
// ModelInfer response: each output FP64 [T, D] (or [T, B, D]) in raw_output_contents, as Triton
// answers; model_version is the version that produced the forecast; parameters "ensemble_size"
// (members used) and "interval_level".
//
// Errors are INVALID_ARGUMENT naming the input, parameter or output (then as Predict's).
// Pure functions of their arguments; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hybrid/v1/hybrid_service.pb.h"
#include "inference/grpc_predict_v2.pb.h"
#include "server/inference_statistics.h"
#include "server/model_registry.h"

namespace hybrid::server::rpc {

struct InferCall {
  v1::PredictRequest predict;
  std::vector<std::string> outputs;  // Requested, in order.
  std::string id;                    // Echoed.
};

absl::StatusOr<InferCall> DecodeModelInfer(const inference::ModelInferRequest& request);
inference::ModelInferResponse EncodeModelInfer(const v1::PredictResponse& answer, const InferCall& call);

// A request's version string: nullopt for empty (the current version), the
// number for decimal digits, NOT_FOUND naming `model` for anything else.
absl::StatusOr<std::optional<uint64_t>> DecodeModelVersion(const std::string& version, const std::string& model);
// OK when `version` asks for the current version (empty or its number);
// NOT_FOUND saying which version is served otherwise.
absl::Status CheckServedVersion(const std::string& version, const std::string& model, uint64_t current);

// Inputs and outputs of a model whose state has `state_dim` components; its
// only version is the current one.
inference::ModelMetadataResponse ModelMetadataFor(const std::string& name, uint64_t version, int64_t state_dim);
// Triton's ModelConfig for a served model.
inference::ModelConfig ModelConfigFor(const v1::ModelConfig& config, int64_t state_dim);
inference::ModelStatistics ModelStatisticsFor(const std::string& name, uint64_t version,
                                              const InferenceStatistics::Totals& totals);
// One RepositoryIndex entry: READY (with its version), LOADING, UNLOADING, or
// UNAVAILABLE with the reason (unloaded, or why it failed).
inference::RepositoryIndexResponse::ModelIndex RepositoryEntryFor(const ModelStatus& status);

}  // namespace hybrid::server::rpc
