// The Open Inference Protocol (KServe v2, with Triton's extensions) ↔ hybridserve.
//
// ModelInfer request:
//   inputs      "initial_state" FP64|FP32 [B, D] (or one state [D]); "times" FP64|FP32 [T]: the output
//               times (strictly increasing, after 0); optional "initial_state_std" FP64|FP32 [D] or [1]
//               (Predict's initial_state_std: absent → the sensor noise, 0 → exact). Values in `contents`
//               (fp64_contents / fp32_contents) or, for every input, in raw_input_contents (row-major,
//               little-endian).
//   parameters  "interval_level" in (0, 1), default 0.9; "ensemble_size" integer (0: all); "max_step" > 0,
//               the largest RK4 step (default 0.01) — each as double_param, int64_param, uint64_param or
//               a string_param holding the number (Triton's clients send the first three, KServe's strings);
//               "include_observation_noise" bool_param: intervals for a future reading, not the state.
//   outputs     any of "mean", "std", "lower", "upper" (none listed: all four, in that order).
//   model_version  empty: the current version; the current version's number: that one; anything else
//               (another number, "abc", "-1") NOT_FOUND. A version is the model's count of accepted
//               calibration updates (hybrid.v1's model_version): every accepted observation makes a new
//               one, and only the current one is served.
// ModelInfer response: each output FP64 [T, B, D] (or [T, D]) in raw_output_contents, as Triton
// answers; model_version is the version that produced the forecast; parameters "ensemble_size"
// (members used) and "interval_level".
// ModelMetadata / ModelConfig advertise initial_state [-1, D], times [-1] and outputs [-1, -1, D]
// (ModelConfig: max_batch_size 0, the batch being initial_state's explicit first dimension, and the
// effective hybrid config as parameters["hybrid_config"]).
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
#include "server/core/inference_statistics.h"
#include "server/core/model_registry.h"

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
