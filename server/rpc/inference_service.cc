#include "server/rpc/inference_service.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/model_name.h"
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
  if (absl::Status s = base::ValidateModelName(name, field); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<ServedModel>> model = core_.registry->Find(name);
  if (!model.ok()) return model.status();
  if (absl::Status s = CheckServedVersion(version, name, (*model)->Info().version); !s.ok()) return s;
  return model;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ServerLive(grpc::CallbackServerContext* context,
                                                           const inference::ServerLiveRequest*,
                                                           inference::ServerLiveResponse* response) {
  const UnaryCall call = core_.Begin(context, "ServerLive", /*needed=*/std::nullopt);  // Anyone may ask.
  response->set_live(true);
  return call.Finish("", absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ServerReady(grpc::CallbackServerContext* context,
                                                            const inference::ServerReadyRequest*,
                                                            inference::ServerReadyResponse* response) {
  const UnaryCall call = core_.Begin(context, "ServerReady", /*needed=*/std::nullopt);  // Anyone may ask.
  bool ready = false;
  for (const ModelStatus& status : core_.registry->List()) ready = ready || status.state == ModelState::kReady;
  response->set_ready(ready);
  return call.Finish("", absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ModelReady(grpc::CallbackServerContext* context,
                                                           const inference::ModelReadyRequest* request,
                                                           inference::ModelReadyResponse* response) {
  const UnaryCall call = core_.Begin(context, "ModelReady", Role::kRead);
  if (call.refused()) return call.reactor();
  absl::StatusOr<std::shared_ptr<ServedModel>> model = FindServing(request->name(), "name", request->version());
  // A model of the repository that is not READY is an answer (false), not an error.
  const absl::Status status = absl::IsUnavailable(model.status()) ? absl::OkStatus() : model.status();
  response->set_ready(model.ok());
  return call.Finish(model.ok() ? (*model)->name() : "", status);
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ServerMetadata(grpc::CallbackServerContext* context,
                                                               const inference::ServerMetadataRequest*,
                                                               inference::ServerMetadataResponse* response) {
  const UnaryCall call = core_.Begin(context, "ServerMetadata", Role::kRead);
  if (call.refused()) return call.reactor();
  response->set_name("hybridserve");
  response->set_version(HYBRIDSERVE_VERSION);
  return call.Finish("", absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ModelMetadata(grpc::CallbackServerContext* context,
                                                              const inference::ModelMetadataRequest* request,
                                                              inference::ModelMetadataResponse* response) {
  const UnaryCall call = core_.Begin(context, "ModelMetadata", Role::kRead);
  if (call.refused()) return call.reactor();
  return AnswerFromModel(call, *request, [response](const ServedModel& model) {
    *response = ModelMetadataFor(model.name(), model.Info().version, model.state_dim());
  });
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ModelInfer(grpc::CallbackServerContext* context,
                                                           const inference::ModelInferRequest* request,
                                                           inference::ModelInferResponse* response) {
  const UnaryCall call = core_.Begin(context, "ModelInfer", Role::kRead);
  if (call.refused()) return call.reactor();
  absl::StatusOr<InferCall> infer = DecodeModelInfer(*request);
  if (!infer.ok()) return call.Finish("", infer.status());
  const v1::PredictRequest predict = infer->predict;  // Not infer->predict below: the lambda takes `infer`.
  core_.predict->Run(call, predict, [response, infer = *std::move(infer)](v1::PredictResponse answer) {
    *response = EncodeModelInfer(answer, infer);
    return absl::OkStatus();
  });
  return call.reactor();
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ModelConfig(grpc::CallbackServerContext* context,
                                                            const inference::ModelConfigRequest* request,
                                                            inference::ModelConfigResponse* response) {
  const UnaryCall call = core_.Begin(context, "ModelConfig", Role::kRead);
  if (call.refused()) return call.reactor();
  return AnswerFromModel(call, *request, [response](const ServedModel& model) {
    *response->mutable_config() = ModelConfigFor(model.config(), model.state_dim());
  });
}

grpc::ServerUnaryReactor* InferenceServiceImpl::ModelStatistics(grpc::CallbackServerContext* context,
                                                                const inference::ModelStatisticsRequest* request,
                                                                inference::ModelStatisticsResponse* response) {
  const UnaryCall call = core_.Begin(context, "ModelStatistics", Role::kRead);
  if (call.refused()) return call.reactor();
  auto add = [response](const ServedModel& model) {
    *response->add_model_stats() = ModelStatisticsFor(model.name(), model.Info().version, model.statistics().totals());
  };
  absl::Status status;
  std::string label;
  if (request->name().empty()) {  // Every READY model (Triton: every loaded one).
    if (!request->version().empty()) status = absl::InvalidArgumentError("version needs a name");
    for (const ModelStatus& m : core_.registry->List()) {
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
  return call.Finish(label, status);
}

grpc::ServerUnaryReactor* InferenceServiceImpl::RepositoryIndex(grpc::CallbackServerContext* context,
                                                                const inference::RepositoryIndexRequest* request,
                                                                inference::RepositoryIndexResponse* response) {
  const UnaryCall call = core_.Begin(context, "RepositoryIndex", Role::kRead);
  if (call.refused()) return call.reactor();
  absl::Status status = RepositoryNameStatus(request->repository_name());
  if (status.ok()) {
    for (const ModelStatus& m : core_.registry->List()) {
      if (!request->ready() || m.state == ModelState::kReady) *response->add_models() = RepositoryEntryFor(m);
    }
  }
  return call.Finish("", status);
}

grpc::ServerUnaryReactor* InferenceServiceImpl::RepositoryModelLoad(
    grpc::CallbackServerContext* context, const inference::RepositoryModelLoadRequest* request,
    inference::RepositoryModelLoadResponse* /*response*/) {
  const UnaryCall call = core_.Begin(context, "RepositoryModelLoad", Role::kAdmin);
  if (call.refused()) return call.reactor();
  absl::Status valid = RepositoryNameStatus(request->repository_name());
  if (valid.ok()) valid = base::ValidateModelName(request->model_name(), "model_name");
  // Triton's "config" and "file:" overrides would replace config.pbtxt for one load; hybridserve
  // loads what the repository holds, so it refuses them rather than ignore them.
  for (const auto& [name, value] : request->parameters()) {
    if (valid.ok()) {
      valid = absl::InvalidArgumentError(
          absl::StrCat("parameters['", absl::CHexEscape(name.substr(0, 64)),
                       "'] is not supported: hybridserve loads the model's config.pbtxt from its repository as it is"));
    }
  }
  if (!valid.ok()) return call.Finish("", valid);
  return call.OnControlThread(core_.control, [this, call, name = request->model_name()] {
    absl::Status status = core_.registry->Load(name);
    if (absl::IsAlreadyExists(status)) status = absl::OkStatus();  // Loaded, as asked.
    call.Finish(absl::IsNotFound(status) ? "" : name, status);
  });
}

grpc::ServerUnaryReactor* InferenceServiceImpl::RepositoryModelUnload(
    grpc::CallbackServerContext* context, const inference::RepositoryModelUnloadRequest* request,
    inference::RepositoryModelUnloadResponse* /*response*/) {
  const UnaryCall call = core_.Begin(context, "RepositoryModelUnload", Role::kAdmin);
  if (call.refused()) return call.reactor();
  absl::Status valid = RepositoryNameStatus(request->repository_name());
  if (valid.ok()) valid = base::ValidateModelName(request->model_name(), "model_name");
  for (const auto& [name, value] : request->parameters()) {
    // tritonclient always sends unload_dependents; a hybridserve model has no dependents.
    const bool dependents =
        name == "unload_dependents" && value.parameter_choice_case() == inference::ModelRepositoryParameter::kBoolParam;
    if (valid.ok() && !dependents) {
      valid = absl::InvalidArgumentError(absl::StrCat("parameters['", absl::CHexEscape(name.substr(0, 64)),
                                                      "'] is not supported (only unload_dependents, a bool)"));
    }
  }
  if (!valid.ok()) return call.Finish("", valid);
  return call.OnControlThread(core_.control, [this, call, name = request->model_name()] {
    absl::Status status = core_.registry->Unload(name);
    if (!status.ok() && core_.registry->StateOf(name) == std::optional(ModelState::kUnloaded)) {
      status = absl::OkStatus();  // Not loaded, as asked.
    }
    call.Finish(absl::IsNotFound(status) ? "" : name, status);
  });
}

}  // namespace hybrid::server::rpc
