// InferenceServiceImpl: the Open Inference Protocol (KServe v2 / Triton)
// gRPC service, inference.GRPCInferenceService, on the same port as
// hybrid.v1.HybridService, so existing KServe and Triton clients can ask for
// forecasts. ModelInfer runs a Predict (server/rpc/inference_codec.h has the
// tensor mapping); the rest answer from the registry:
//   ServerLive      true while the server runs
//   ServerReady     true when at least one model is READY
//   ModelReady      the model is READY (NOT_FOUND for a name the repository lacks)
//   ServerMetadata  name "hybridserve", the build's version, no extensions
//   ModelMetadata   inputs, outputs and the current version of a READY model
// With tokens, ServerLive/ServerReady need none (like health checks) and the
// others need `read`. Stateless beyond the pointers, which must outlive it.
#pragma once

#include "inference/grpc_predict_v2.grpc.pb.h"
#include "server/access_tokens.h"
#include "server/model_registry.h"
#include "server/rpc/predict_call.h"
#include "server/thread_pool.h"

namespace hybrid::server::rpc {

class InferenceServiceImpl final : public inference::GRPCInferenceService::CallbackService {
 public:
  InferenceServiceImpl(ModelRegistry* registry, Metrics* metrics, ThreadPool* pool, const AccessTokens* tokens)
      : registry_(registry), metrics_(metrics), tokens_(tokens), predict_(registry, metrics, pool) {}

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context, const inference::ServerLiveRequest*,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context, const inference::ServerReadyRequest*,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest*,
                                           inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;

 private:
  ModelRegistry* const registry_;
  Metrics* const metrics_;
  const AccessTokens* const tokens_;
  const PredictCall predict_;
};

}  // namespace hybrid::server::rpc
