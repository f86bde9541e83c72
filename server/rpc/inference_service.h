// InferenceServiceImpl: the Open Inference Protocol (KServe v2 / Triton)
// gRPC service, inference.GRPCInferenceService, on the same port as
// hybrid.v1.HybridService, so existing KServe and Triton clients can ask for
// forecasts. ModelInfer runs a Predict (server/rpc/inference_codec.h has the
// tensor mapping, shapes and what a version means); the rest answer from the
// registry:
//   ServerLive       true while the server runs
//   ServerReady      true when at least one model is READY
//   ModelReady       the model is READY (NOT_FOUND for a name the repository lacks or a version it does not serve)
//   ServerMetadata   name "hybridserve", the build's version, no extensions
//   ModelMetadata    inputs, outputs and the current version of a READY model
// and Triton's extensions, as tritonclient calls them:
//   ModelConfig      Triton's ModelConfig of a READY model (inputs, outputs, the hybrid config as a parameter)
//   ModelStatistics  per READY model (or the one named): successes, failures, time queued / decoding /
//                    forecasting / encoding, states forecast, last forecast (server/core/inference_statistics.h)
//   RepositoryIndex  every repository model with its state (`ready`: only READY ones)
//   RepositoryModelLoad / RepositoryModelUnload  LoadModel / UnloadModel on the control thread; loading a
//                    READY model and unloading an unloaded one are OK (Triton's clients expect idempotence);
//                    the only parameter taken is unload_dependents (a model has none)
// With tokens, ServerLive/ServerReady need none (like health checks), the
// repository load/unload need `admin` and the others `read`. Stateless beyond
// the pointers, which must outlive it.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "inference/grpc_predict_v2.grpc.pb.h"
#include "server/rpc/service_core.h"

namespace hybrid::server::rpc {

class InferenceServiceImpl final : public inference::GRPCInferenceService::CallbackService {
 public:
  explicit InferenceServiceImpl(const ServiceCore& core) : core_(core) {}

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
  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* context,
                                        const inference::ModelConfigRequest* request,
                                        inference::ModelConfigResponse* response) override;
  grpc::ServerUnaryReactor* ModelStatistics(grpc::CallbackServerContext* context,
                                            const inference::ModelStatisticsRequest* request,
                                            inference::ModelStatisticsResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryIndex(grpc::CallbackServerContext* context,
                                            const inference::RepositoryIndexRequest* request,
                                            inference::RepositoryIndexResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryModelLoad(grpc::CallbackServerContext* context,
                                                const inference::RepositoryModelLoadRequest* request,
                                                inference::RepositoryModelLoadResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryModelUnload(grpc::CallbackServerContext* context,
                                                  const inference::RepositoryModelUnloadRequest* request,
                                                  inference::RepositoryModelUnloadResponse* response) override;

 private:
  // The READY model `name` names, serving `version` (empty: any).
  absl::StatusOr<std::shared_ptr<ServedModel>> FindServing(const std::string& name, const char* field,
                                                           const std::string& version) const;
  // Finishes `call` with what `answer` writes from the model FindServing finds
  // for the request's name and version (its name as the metric label), or
  // with FindServing's error.
  template <typename Request>
  grpc::ServerUnaryReactor* AnswerFromModel(const UnaryCall& call, const Request& request,
                                            const std::function<void(const ServedModel&)>& answer) const {
    absl::StatusOr<std::shared_ptr<ServedModel>> model = FindServing(request.name(), "name", request.version());
    if (model.ok()) answer(**model);
    return call.Finish(model.ok() ? (*model)->name() : "", model.status());
  }

  const ServiceCore core_;
};

}  // namespace hybrid::server::rpc
