#include "server/rpc/inference_service.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/model_name.h"
#include "server/rpc/inference_codec.h"
#include "server/rpc/unary_call.h"

#ifndef HYBRIDSERVE_VERSION
#error "HYBRIDSERVE_VERSION must be defined by the build"
#endif

namespace hybrid::server::rpc {
namespace {

// hybridserve has one repository; Triton's clients leave the name empty.
absl::Status RepositoryNameStatus(const std::string& repository_name) {
  if (repository_name.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "repository_name must be empty: hybridserve serves one model repository (--model_repository)");
}

}  // namespace

absl::StatusOr<std::shared_ptr<ServedModel>> InferenceServiceImpl::FindServing(const std::string& name,
                                                                               const char* field,
                                                                               const std::string& version) const {
  if (absl::Status s = ValidateModelName(name, field); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<ServedModel>> model = registry_->Find(name);
  if (!model.ok()) return model.status();
  if (absl::Status s = CheckServedVersion(version, name, (*model)->Info().version); !s.ok()) return s;
  return model;
}

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
  absl::StatusOr<std::shared_ptr<ServedModel>> model = FindServing(request->name(), "name", request->version());
  // A model of the repository that is not READY is an answer (false), not an error.
  const absl::Status status = absl::IsUnavailable(model.status()) ? absl::OkStatus() : model.status();
  response->set_ready(model.ok());
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
  absl::StatusOr<std::shared_ptr<ServedModel>> model = FindServing(request->name(), "name", request->version());
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
  predict_->Run(context, reactor, "ModelInfer", predict, started,
                [response, call = *std::move(call)](v1::PredictResponse answer) {
                  *response = EncodeModelInfer(answer, call);
                  return absl::OkStatus();
                });
  return reactor;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ModelConfig(grpc::CallbackServerContext* context,
                                                            const inference::ModelConfigRequest* request,
                                                            inference::ModelConfigResponse* response) {
  const UnaryClock::time_point started = UnaryClock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (RefusedCall(tokens_, metrics_, context, reactor, "ModelConfig", Role::kRead, started)) return reactor;
  absl::StatusOr<std::shared_ptr<ServedModel>> model = FindServing(request->name(), "name", request->version());
  if (model.ok()) *response->mutable_config() = ModelConfigFor((*model)->config(), (*model)->state_dim());
  FinishUnary(reactor, metrics_, model.ok() ? (*model)->name() : "", "ModelConfig", started, model.status());
  return reactor;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ModelStatistics(grpc::CallbackServerContext* context,
                                                                const inference::ModelStatisticsRequest* request,
                                                                inference::ModelStatisticsResponse* response) {
  const UnaryClock::time_point started = UnaryClock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (RefusedCall(tokens_, metrics_, context, reactor, "ModelStatistics", Role::kRead, started)) return reactor;
  auto add = [response](const ServedModel& model) {
    *response->add_model_stats() = ModelStatisticsFor(model.name(), model.Info().version, model.statistics().totals());
  };
  absl::Status status;
  std::string label;
  if (request->name().empty()) {  // Every READY model (Triton: every loaded one).
    if (!request->version().empty()) status = absl::InvalidArgumentError("version needs a name");
    for (const ModelStatus& m : registry_->List()) {
      if (status.ok() && m.state == ModelState::kReady && m.model) add(*m.model);
    }
  } else {
    absl::StatusOr<std::shared_ptr<ServedModel>> model = FindServing(request->name(), "name", request->version());
    status = model.status();
    if (model.ok()) {
      add(**model);
      label = (*model)->name();
    }
  }
  FinishUnary(reactor, metrics_, label, "ModelStatistics", started, status);
  return reactor;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::RepositoryIndex(grpc::CallbackServerContext* context,
                                                                const inference::RepositoryIndexRequest* request,
                                                                inference::RepositoryIndexResponse* response) {
  const UnaryClock::time_point started = UnaryClock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (RefusedCall(tokens_, metrics_, context, reactor, "RepositoryIndex", Role::kRead, started)) return reactor;
  absl::Status status = RepositoryNameStatus(request->repository_name());
  if (status.ok()) {
    for (const ModelStatus& m : registry_->List()) {
      if (!request->ready() || m.state == ModelState::kReady) *response->add_models() = RepositoryEntryFor(m);
    }
  }
  FinishUnary(reactor, metrics_, "", "RepositoryIndex", started, status);
  return reactor;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::RepositoryModelLoad(
    grpc::CallbackServerContext* context, const inference::RepositoryModelLoadRequest* request,
    inference::RepositoryModelLoadResponse* /*response*/) {
  const UnaryClock::time_point started = UnaryClock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (RefusedCall(tokens_, metrics_, context, reactor, "RepositoryModelLoad", Role::kAdmin, started)) return reactor;
  absl::Status valid = RepositoryNameStatus(request->repository_name());
  if (valid.ok()) valid = ValidateModelName(request->model_name(), "model_name");
  // Triton's "config" and "file:" overrides would replace config.pbtxt for one load; hybridserve
  // loads what the repository holds, so it refuses them rather than ignore them.
  for (const auto& [name, value] : request->parameters()) {
    if (valid.ok()) {
      valid = absl::InvalidArgumentError(
          absl::StrCat("parameters['", absl::CHexEscape(name.substr(0, 64)),
                       "'] is not supported: hybridserve loads the model's config.pbtxt from its repository as it is"));
    }
  }
  if (!valid.ok()) {
    FinishUnary(reactor, metrics_, "", "RepositoryModelLoad", started, valid);
    return reactor;
  }
  ScheduleControl(control_, metrics_, reactor, "RepositoryModelLoad", started,
                  [this, reactor, started, name = request->model_name()] {
                    absl::Status status = registry_->Load(name);
                    if (absl::IsAlreadyExists(status)) status = absl::OkStatus();  // Loaded, as asked.
                    FinishUnary(reactor, metrics_, absl::IsNotFound(status) ? "" : name, "RepositoryModelLoad", started,
                                status);
                  });
  return reactor;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::RepositoryModelUnload(
    grpc::CallbackServerContext* context, const inference::RepositoryModelUnloadRequest* request,
    inference::RepositoryModelUnloadResponse* /*response*/) {
  const UnaryClock::time_point started = UnaryClock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (RefusedCall(tokens_, metrics_, context, reactor, "RepositoryModelUnload", Role::kAdmin, started)) {
    return reactor;
  }
  absl::Status valid = RepositoryNameStatus(request->repository_name());
  if (valid.ok()) valid = ValidateModelName(request->model_name(), "model_name");
  for (const auto& [name, value] : request->parameters()) {
    // tritonclient always sends unload_dependents; a hybridserve model has no dependents.
    const bool dependents =
        name == "unload_dependents" && value.parameter_choice_case() == inference::ModelRepositoryParameter::kBoolParam;
    if (valid.ok() && !dependents) {
      valid = absl::InvalidArgumentError(absl::StrCat("parameters['", absl::CHexEscape(name.substr(0, 64)),
                                                      "'] is not supported (only unload_dependents, a bool)"));
    }
  }
  if (!valid.ok()) {
    FinishUnary(reactor, metrics_, "", "RepositoryModelUnload", started, valid);
    return reactor;
  }
  ScheduleControl(control_, metrics_, reactor, "RepositoryModelUnload", started,
                  [this, reactor, started, name = request->model_name()] {
                    absl::Status status = registry_->Unload(name);
                    if (!status.ok() && registry_->StateOf(name) == std::optional(ModelState::kUnloaded)) {
                      status = absl::OkStatus();  // Not loaded, as asked.
                    }
                    FinishUnary(reactor, metrics_, absl::IsNotFound(status) ? "" : name, "RepositoryModelUnload",
                                started, status);
                  });
  return reactor;
}

}  // namespace hybrid::server::rpc
