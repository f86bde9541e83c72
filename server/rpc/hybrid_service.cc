#include "server/rpc/hybrid_service.h"

#include <functional>

#include "absl/strings/str_cat.h"
#include "base/model_name.h"
#include "server/rpc/calibrate_reactor.h"
#include "server/rpc/call_authorization.h"
#include "server/rpc/message_codec.h"
#include "server/rpc/status_conversion.h"
#include "server/rpc/tensor_codec.h"
#include "server/rpc/unary_call.h"

namespace hybrid::server::rpc {
namespace {

// The model a request names; INVALID_ARGUMENT when the field is not a model name.
absl::StatusOr<std::shared_ptr<ServedModel>> FindNamed(const ModelRegistry& registry, const std::string& model) {
  if (absl::Status s = base::ValidateModelName(model, "model"); !s.ok()) return s;
  return registry.Find(model);
}

// The wire enum has the core's names, prefixed.
v1::ModelState ToProto(ModelState state) {
  v1::ModelState out = v1::MODEL_STATE_UNSPECIFIED;
  v1::ModelState_Parse(absl::StrCat("MODEL_STATE_", ModelStateName(state)), &out);
  return out;
}

// Queues `work` on the named model's calibration worker, which finishes the
// call with the version it answers; an unknown model or a refused queue
// finishes it now.
template <typename Response>
grpc::ServerUnaryReactor* OnModelWorker(
    const ModelRegistry& registry, const UnaryCall& call, const std::string& name, Response* response,
    const std::function<absl::Status(ServedModel&, ServedModel::VersionDone)>& work) {
  absl::StatusOr<std::shared_ptr<ServedModel>> model = FindNamed(registry, name);
  const absl::Status queued = model.ok() ? work(**model, call.FinishWithVersion(response, name)) : model.status();
  if (!queued.ok()) call.Finish(model.ok() ? name : "", queued);
  return call.reactor();
}

}  // namespace

grpc::ServerUnaryReactor* HybridServiceImpl::Predict(grpc::CallbackServerContext* context,
                                                     const v1::PredictRequest* request, v1::PredictResponse* response) {
  const UnaryCall call = core_.Begin(context, "Predict", Role::kRead);
  if (call.refused()) return call.reactor();
  core_.predict->Run(call, *request, [response](v1::PredictResponse answer) {
    *response = std::move(answer);
    return absl::OkStatus();
  });
  return call.reactor();
}

grpc::ServerBidiReactor<v1::CalibrateRequest, v1::CalibrateResponse>* HybridServiceImpl::Calibrate(
    grpc::CallbackServerContext* context) {
  if (absl::Status allowed = AuthorizeCall(core_.tokens, *context, Role::kCalibrate); !allowed.ok()) {
    core_.metrics->RecordRequest("", "Calibrate", CodeName(allowed.code()), 0.0);
    return new RejectedStream<v1::CalibrateRequest, v1::CalibrateResponse>(ToGrpcStatus(allowed));
  }
  return new CalibrateReactor(context, core_.registry, core_.metrics);
}

grpc::ServerUnaryReactor* HybridServiceImpl::ListModels(grpc::CallbackServerContext* context,
                                                        const v1::ListModelsRequest* /*request*/,
                                                        v1::ListModelsResponse* response) {
  const UnaryCall call = core_.Begin(context, "ListModels", Role::kRead);
  if (call.refused()) return call.reactor();
  for (const ModelStatus& status : core_.registry->List()) {
    v1::ModelSummary* summary = response->add_models();
    summary->set_name(status.name);
    summary->set_state(ToProto(status.state));
    summary->set_reason(status.reason);
    if (status.model) {
      const ModelInfo info = status.model->Info();
      summary->set_description(info.description);
      summary->set_version(info.version);
    }
  }
  return call.Finish("", absl::OkStatus());
}

grpc::ServerUnaryReactor* HybridServiceImpl::GetModel(grpc::CallbackServerContext* context,
                                                      const v1::GetModelRequest* request,
                                                      v1::GetModelResponse* response) {
  const UnaryCall call = core_.Begin(context, "GetModel", Role::kRead);
  if (call.refused()) return call.reactor();
  absl::StatusOr<std::shared_ptr<ServedModel>> model = FindNamed(*core_.registry, request->model());
  if (model.ok()) {
    const ModelInfo info = (*model)->Info();
    *response->mutable_config() = (*model)->config();
    EncodeParameters(info.parameters, response->mutable_parameters());
    response->set_version(info.version);
    response->set_observations_accepted(info.observations_accepted);
    response->set_state(v1::MODEL_STATE_READY);
    EncodeComponents(info.components, response->mutable_state_components());
    v1::DurabilityStatus* d = response->mutable_durability();
    d->set_enabled(info.durability.enabled);
    d->set_last_logged(info.durability.last_logged);
    d->set_wal_bytes(info.durability.wal_bytes);
    d->mutable_checkpoint_versions()->Add(info.durability.checkpoint_versions.begin(),
                                          info.durability.checkpoint_versions.end());
    d->set_last_checkpoint_unix_ms(info.durability.last_checkpoint_unix_ms);
    d->set_replayed_at_start(info.durability.replayed_at_start);
    response->set_entities(info.entities);
    for (const OnlineSkill& skill : info.calibration.online) {
      v1::OnlineSkill* out = response->add_online_skill();
      out->set_lead_le(skill.lead_le);
      out->set_reports(skill.reports);
      out->set_crps(skill.crps);
      out->set_coverage(skill.coverage);
    }
    // Absent before the first accepted observation: nothing to report yet.
    if (info.observations_accepted > 0) {
      v1::CalibrationStatus* c = response->mutable_calibration();
      c->set_loss(info.calibration.loss.value_or(0.0));
      c->set_coverage(info.calibration.coverage.value_or(0.0));
      c->set_coverage_target(info.calibration.coverage_target);
      c->set_queue_depth(info.calibration.queue_depth);
    }
  }
  return call.Finish(model.ok() ? (*model)->name() : "", model.status());
}

grpc::ServerUnaryReactor* HybridServiceImpl::LoadModel(grpc::CallbackServerContext* context,
                                                       const v1::LoadModelRequest* request,
                                                       v1::LoadModelResponse* response) {
  const UnaryCall call = core_.Begin(context, "LoadModel", Role::kAdmin);
  if (call.refused()) return call.reactor();
  if (absl::Status s = base::ValidateModelName(request->model(), "model"); !s.ok()) return call.Finish("", s);
  return call.OnControlThread(core_.control, [this, call, response, name = request->model()] {
    absl::Status status = core_.registry->Load(name);
    absl::StatusOr<std::shared_ptr<ServedModel>> model = core_.registry->Find(name);
    if (status.ok() && model.ok()) response->set_version((*model)->Info().version);
    call.Finish(absl::IsNotFound(status) ? "" : name, status);  // A name the repository lacks is no label.
  });
}

grpc::ServerUnaryReactor* HybridServiceImpl::UnloadModel(grpc::CallbackServerContext* context,
                                                         const v1::UnloadModelRequest* request,
                                                         v1::UnloadModelResponse* /*response*/) {
  const UnaryCall call = core_.Begin(context, "UnloadModel", Role::kAdmin);
  if (call.refused()) return call.reactor();
  if (absl::Status s = base::ValidateModelName(request->model(), "model"); !s.ok()) return call.Finish("", s);
  return call.OnControlThread(core_.control, [this, call, name = request->model()] {
    const absl::Status status = core_.registry->Unload(name);
    call.Finish(absl::IsNotFound(status) ? "" : name, status);
  });
}

grpc::ServerUnaryReactor* HybridServiceImpl::SaveCheckpoint(grpc::CallbackServerContext* context,
                                                            const v1::SaveCheckpointRequest* request,
                                                            v1::SaveCheckpointResponse* response) {
  const UnaryCall call = core_.Begin(context, "SaveCheckpoint", Role::kAdmin);
  if (call.refused()) return call.reactor();
  return OnModelWorker(*core_.registry, call, request->model(), response,
                       [](ServedModel& model, ServedModel::VersionDone done) { return model.SaveCheckpoint(done); });
}

grpc::ServerUnaryReactor* HybridServiceImpl::Rollback(grpc::CallbackServerContext* context,
                                                      const v1::RollbackRequest* request,
                                                      v1::RollbackResponse* response) {
  const UnaryCall call = core_.Begin(context, "Rollback", Role::kAdmin);
  if (call.refused()) return call.reactor();
  const uint64_t version = request->version();
  return OnModelWorker(*core_.registry, call, request->model(), response,
                       [version](ServedModel& model, ServedModel::VersionDone done) {
                         if (version == 0) {
                           return absl::InvalidArgumentError(
                               "version must be set (one of GetModel's durability.checkpoint_versions)");
                         }
                         return model.Rollback(version, std::move(done));
                       });
}

grpc::ServerUnaryReactor* HybridServiceImpl::Observe(grpc::CallbackServerContext* context,
                                                     const v1::ObserveRequest* request, v1::ObserveResponse* response) {
  const UnaryCall call = core_.Begin(context, "Observe", Role::kCalibrate);
  if (call.refused()) return call.reactor();
  absl::StatusOr<std::shared_ptr<ServedModel>> model = FindNamed(*core_.registry, request->model());
  if (!model.ok()) return call.Finish("", model.status());
  ReportBatch batch = DecodeObserveRequest(*request);
  batch.cancelled = [context] { return context->IsCancelled(); };
  const std::string name = (*model)->name();
  const absl::Status queued =
      (*model)->Observe(std::move(batch), [call, response, name](std::vector<ReportOutcome> outcomes) {
        for (const ReportOutcome& o : outcomes) EncodeReportOutcome(o, response->add_outcomes());
        call.Finish(name, absl::OkStatus());
      });
  if (!queued.ok()) call.Finish(name, queued);
  return call.reactor();
}

grpc::ServerUnaryReactor* HybridServiceImpl::ListEntities(grpc::CallbackServerContext* context,
                                                          const v1::ListEntitiesRequest* request,
                                                          v1::ListEntitiesResponse* response) {
  const UnaryCall call = core_.Begin(context, "ListEntities", Role::kRead);
  if (call.refused()) return call.reactor();
  absl::StatusOr<std::shared_ptr<ServedModel>> model = FindNamed(*core_.registry, request->model());
  if (!model.ok()) return call.Finish("", model.status());
  absl::StatusOr<EntityPage> page =
      (*model)->ListEntities(request->start_after(), request->page_size() == 0 ? 1000 : request->page_size());
  if (page.ok()) {
    for (const EntitySummary& e : page->entities) EncodeEntitySummary(e, response->add_entities());
    response->set_total(page->total);
    response->set_next_start_after(page->next_start_after);
  }
  return call.Finish((*model)->name(), page.status());
}

grpc::ServerUnaryReactor* HybridServiceImpl::GetEntity(grpc::CallbackServerContext* context,
                                                       const v1::GetEntityRequest* request,
                                                       v1::GetEntityResponse* response) {
  const UnaryCall call = core_.Begin(context, "GetEntity", Role::kRead);
  if (call.refused()) return call.reactor();
  absl::StatusOr<std::shared_ptr<ServedModel>> model = FindNamed(*core_.registry, request->model());
  if (!model.ok()) return call.Finish("", model.status());
  if (absl::Status s = base::ValidateEntityName(request->entity(), "entity"); !s.ok()) {
    return call.Finish((*model)->name(), s);
  }
  absl::StatusOr<EntityView> view = (*model)->GetEntity(request->entity());
  if (view.ok()) {
    EncodeEntitySummary(view->summary, response->mutable_summary());
    EncodeComponents((*model)->Info().components, response->mutable_state_components());
    *response->mutable_mean() = EncodeTensor(view->mean);
    *response->mutable_std() = EncodeTensor(view->std);
    *response->mutable_ensemble() = EncodeTensor(view->ensemble);
    *response->mutable_rates() = EncodeTensor(view->rates);
    EncodeParameters(view->parameters, response->mutable_parameters());
    response->set_model_version(view->version);
  }
  return call.Finish((*model)->name(), view.status());
}

grpc::ServerUnaryReactor* HybridServiceImpl::DeleteEntity(grpc::CallbackServerContext* context,
                                                          const v1::DeleteEntityRequest* request,
                                                          v1::DeleteEntityResponse* /*response*/) {
  const UnaryCall call = core_.Begin(context, "DeleteEntity", Role::kCalibrate);
  if (call.refused()) return call.reactor();
  absl::StatusOr<std::shared_ptr<ServedModel>> model = FindNamed(*core_.registry, request->model());
  if (!model.ok()) return call.Finish("", model.status());
  const std::string name = (*model)->name();
  absl::Status queued = base::ValidateEntityName(request->entity(), "entity");
  if (queued.ok()) {
    queued = (*model)->DeleteEntity(request->entity(), [call, name](absl::Status s) { call.Finish(name, s); });
  }
  if (!queued.ok()) call.Finish(name, queued);
  return call.reactor();
}

}  // namespace hybrid::server::rpc
