// One forecast for an RPC adapter (hybrid.v1 Predict, KServe ModelInfer):
// decodes the v1::PredictRequest, finds the model, queues the forecast on the
// Predict pool through the model's batcher (server/core/predict_batcher.h:
// merged with others when the model has dynamic_batching) — checking the
// deadline and cancellation while it waits and between solver steps — and
// finishes the call, recording its metrics under the call's RPC name.
//
//   predict_call.Run(call, request,  // call: server/rpc/unary_call.h
//                    [response](v1::PredictResponse r) { *response = std::move(r); return absl::OkStatus(); });
//
// `deliver` runs on a pool thread with the answer before the call finishes;
// its error (e.g. an answer the caller's protocol cannot express) finishes the
// call instead. A full Predict queue is RESOURCE_EXHAUSTED. Errors as Predict's
// (README.md); unknown model names are not used as metric labels.
// Thread-safe; the pointers must outlive every call.
#pragma once

#include <cstdint>
#include <functional>

#include "hybrid/v1/hybrid_service.pb.h"
#include "server/core/model_registry.h"
#include "server/core/thread_pool.h"
#include "server/rpc/unary_call.h"

namespace hybrid::server::rpc {

class PredictCall {
 public:
  using Deliver = std::function<absl::Status(v1::PredictResponse)>;

  // `max_answer_bytes`: the largest message the protocol may send (the
  // server's --max_message_bytes); a forecast whose answer would be larger is
  // refused before it runs.
  PredictCall(ModelRegistry* registry, ThreadPool* pool, int64_t max_answer_bytes)
      : registry_(registry), pool_(pool), max_answer_bytes_(max_answer_bytes) {}

  void Run(const UnaryCall& call, const v1::PredictRequest& request, Deliver deliver) const;

 private:
  ModelRegistry* const registry_;
  ThreadPool* const pool_;
  const int64_t max_answer_bytes_;
};

}  // namespace hybrid::server::rpc
