#include "server/rpc/inference_service.h"

#include "server/rpc/inference_codec.h"
#include "server/rpc/unary_call.h"

#ifndef HYBRIDSERVE_VERSION
#error "HYBRIDSERVE_VERSION must be defined by the build"
#endif

namespace hybrid::server::rpc {

grpc::ServerUnaryReactor* InferenceServiceImpl::ServerLive(grpc::CallbackServerContext* context,
                                                           const inference::ServerLiveRequest*,
                                                           inference::ServerLiveResponse* response) {
  const UnaryClock::time_point started = UnaryClock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  response->set_live(true);
  FinishUnary(reactor, metrics_, "", "ServerLive", started, absl::OkStatus());
  return reactor;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ServerReady(grpc::CallbackServerContext* context,
                                                            const inference::ServerReadyRequest*,
                                                            inference::ServerReadyResponse* response) {
  const UnaryClock::time_point started = UnaryClock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  bool ready = false;
  for (const ModelStatus& status : registry_->List()) ready = ready || status.state == ModelState::kReady;
  response->set_ready(ready);
  FinishUnary(reactor, metrics_, "", "ServerReady", started, absl::OkStatus());
  return reactor;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ModelReady(grpc::CallbackServerContext* context,
                                                           const inference::ModelReadyRequest* request,
                                                           inference::ModelReadyResponse* response) {
  const UnaryClock::time_point started = UnaryClock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (RefusedCall(tokens_, metrics_, context, reactor, "ModelReady", Role::kRead, started)) return reactor;
  absl::Status status = request->name().empty() ? absl::InvalidArgumentError("name must be set") : absl::OkStatus();
  absl::StatusOr<std::shared_ptr<ServedModel>> model = registry_->Find(request->name());
  if (status.ok() && !model.ok() && !absl::IsUnavailable(model.status())) status = model.status();
  response->set_ready(status.ok() && model.ok());
  FinishUnary(reactor, metrics_, model.ok() ? (*model)->name() : "", "ModelReady", started, status);
  return reactor;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ServerMetadata(grpc::CallbackServerContext* context,
                                                               const inference::ServerMetadataRequest*,
                                                               inference::ServerMetadataResponse* response) {
  const UnaryClock::time_point started = UnaryClock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (RefusedCall(tokens_, metrics_, context, reactor, "ServerMetadata", Role::kRead, started)) return reactor;
  response->set_name("hybridserve");
  response->set_version(HYBRIDSERVE_VERSION);
  FinishUnary(reactor, metrics_, "", "ServerMetadata", started, absl::OkStatus());
  return reactor;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ModelMetadata(grpc::CallbackServerContext* context,
                                                              const inference::ModelMetadataRequest* request,
                                                              inference::ModelMetadataResponse* response) {
  const UnaryClock::time_point started = UnaryClock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (RefusedCall(tokens_, metrics_, context, reactor, "ModelMetadata", Role::kRead, started)) return reactor;
  absl::StatusOr<std::shared_ptr<ServedModel>> model =
      request->name().empty() ? absl::InvalidArgumentError("name must be set") : registry_->Find(request->name());
  if (model.ok()) *response = ModelMetadataFor((*model)->name(), (*model)->Info().version, (*model)->state_dim());
  FinishUnary(reactor, metrics_, model.ok() ? (*model)->name() : "", "ModelMetadata", started, model.status());
  return reactor;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ModelInfer(grpc::CallbackServerContext* context,
                                                           const inference::ModelInferRequest* request,
                                                           inference::ModelInferResponse* response) {
  const UnaryClock::time_point started = UnaryClock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (RefusedCall(tokens_, metrics_, context, reactor, "ModelInfer", Role::kRead, started)) return reactor;
  absl::StatusOr<InferCall> call = DecodeModelInfer(*request);
  if (!call.ok()) {
    FinishUnary(reactor, metrics_, "", "ModelInfer", started, call.status());
    return reactor;
  }
  const v1::PredictRequest predict = call->predict;  // Not call->predict below: the lambda takes `call`.
  predict_.Run(context, reactor, "ModelInfer", predict, started,
               [response, call = *std::move(call)](v1::PredictResponse answer) {
                 *response = EncodeModelInfer(answer, call);
                 return absl::OkStatus();
               });
  return reactor;
}

}  // namespace hybrid::server::rpc
