#include "server/rpc/hybrid_service.h"

#include <functional>

#include "absl/strings/str_cat.h"
#include "server/model_name.h"
#include "server/rpc/calibrate_reactor.h"
#include "server/rpc/call_authorization.h"
#include "server/rpc/message_codec.h"
#include "server/rpc/status_conversion.h"
#include "server/rpc/unary_call.h"

namespace hybrid::server::rpc {
namespace {

using Clock = UnaryClock;

// The model a request names; INVALID_ARGUMENT when the field is not a model name.
absl::StatusOr<std::shared_ptr<ServedModel>> FindNamed(const ModelRegistry& registry, const std::string& model) {
  if (absl::Status s = ValidateModelName(model, "model"); !s.ok()) return s;
  return registry.Find(model);
}

// The wire enum has the core's names, prefixed.
v1::ModelState ToProto(ModelState state) {
  v1::ModelState out = v1::MODEL_STATE_UNSPECIFIED;
  v1::ModelState_Parse(absl::StrCat("MODEL_STATE_", ModelStateName(state)), &out);
  return out;
}

// Finishes a call that the model's worker answers with a version.
template <typename Response>
ServedModel::VersionDone FinishWithVersion(Metrics* metrics, grpc::ServerUnaryReactor* reactor, Response* response,
                                           std::string model, const char* rpc, Clock::time_point started) {
  return [=](absl::StatusOr<uint64_t> version) {
    if (version.ok()) response->set_version(*version);
    FinishUnary(reactor, metrics, model, rpc, started, version.status());
  };
}

}  // namespace

bool HybridServiceImpl::Refused(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
                                const char* rpc, Role needed, UnaryClock::time_point started) {
  return RefusedCall(tokens_, metrics_, context, reactor, rpc, needed, started);
}

grpc::ServerUnaryReactor* HybridServiceImpl::Predict(grpc::CallbackServerContext* context,
                                                     const v1::PredictRequest* request, v1::PredictResponse* response) {
  const Clock::time_point started = Clock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (Refused(context, reactor, "Predict", Role::kRead, started)) return reactor;
  predict_->Run(context, reactor, "Predict", *request, started, [response](v1::PredictResponse answer) {
    *response = std::move(answer);
    return absl::OkStatus();
  });
  return reactor;
}

grpc::ServerBidiReactor<v1::CalibrateRequest, v1::CalibrateResponse>* HybridServiceImpl::Calibrate(
    grpc::CallbackServerContext* context) {
  if (absl::Status allowed = AuthorizeCall(tokens_, *context, Role::kCalibrate); !allowed.ok()) {
    metrics_->RecordRequest("", "Calibrate", CodeName(allowed.code()), 0.0);
    return new RejectedStream<v1::CalibrateRequest, v1::CalibrateResponse>(ToGrpcStatus(allowed));
  }
  return new CalibrateReactor(context, registry_, metrics_);
}

grpc::ServerUnaryReactor* HybridServiceImpl::ListModels(grpc::CallbackServerContext* context,
                                                        const v1::ListModelsRequest* /*request*/,
                                                        v1::ListModelsResponse* response) {
  const Clock::time_point started = Clock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (Refused(context, reactor, "ListModels", Role::kRead, started)) return reactor;
  for (const ModelStatus& status : registry_->List()) {
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
  FinishUnary(reactor, metrics_, "", "ListModels", started, absl::OkStatus());
  return reactor;
}

grpc::ServerUnaryReactor* HybridServiceImpl::GetModel(grpc::CallbackServerContext* context,
                                                      const v1::GetModelRequest* request,
                                                      v1::GetModelResponse* response) {
  const Clock::time_point started = Clock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (Refused(context, reactor, "GetModel", Role::kRead, started)) return reactor;
  absl::StatusOr<std::shared_ptr<ServedModel>> model = FindNamed(*registry_, request->model());
  if (model.ok()) {
    const ModelInfo info = (*model)->Info();
    *response->mutable_config() = (*model)->config();
    EncodeParameters(info.parameters, response->mutable_parameters());
    response->set_version(info.version);
    response->set_observations_accepted(info.observations_accepted);
    response->set_state(v1::MODEL_STATE_READY);
    v1::DurabilityStatus* d = response->mutable_durability();
    d->set_enabled(info.durability.enabled);
    d->set_last_logged(info.durability.last_logged);
    d->set_wal_bytes(info.durability.wal_bytes);
    d->mutable_checkpoint_versions()->Add(info.durability.checkpoint_versions.begin(),
                                          info.durability.checkpoint_versions.end());
    d->set_last_checkpoint_unix_ms(info.durability.last_checkpoint_unix_ms);
    d->set_replayed_at_start(info.durability.replayed_at_start);
    // Gauges start at 0: before the first accepted observation they mean "none yet".
    if (const ModelMetrics* series = metrics_->Find(info.name); series != nullptr && info.observations_accepted > 0) {
      v1::CalibrationStatus* c = response->mutable_calibration();
      c->set_loss(series->loss->Value());
      c->set_coverage(series->coverage->Value());
      c->set_coverage_target(series->coverage_target->Value());
      c->set_queue_depth(static_cast<int64_t>(series->queue_depth->Value()));
    }
  }
  FinishUnary(reactor, metrics_, model.ok() ? (*model)->name() : "", "GetModel", started, model.status());
  return reactor;
}

grpc::ServerUnaryReactor* HybridServiceImpl::LoadModel(grpc::CallbackServerContext* context,
                                                       const v1::LoadModelRequest* request,
                                                       v1::LoadModelResponse* response) {
  const Clock::time_point started = Clock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (Refused(context, reactor, "LoadModel", Role::kAdmin, started)) return reactor;
  if (absl::Status s = ValidateModelName(request->model(), "model"); !s.ok()) {
    FinishUnary(reactor, metrics_, "", "LoadModel", started, s);
    return reactor;
  }
  ScheduleControl(control_, metrics_, reactor, "LoadModel", started,
                  [this, reactor, response, started, name = request->model()] {
                    absl::Status status = registry_->Load(name);
                    absl::StatusOr<std::shared_ptr<ServedModel>> model = registry_->Find(name);
                    if (status.ok() && model.ok()) response->set_version((*model)->Info().version);
                    // A name the repository lacks is not used as a label.
                    FinishUnary(reactor, metrics_, absl::IsNotFound(status) ? "" : name, "LoadModel", started, status);
                  });
  return reactor;
}

grpc::ServerUnaryReactor* HybridServiceImpl::UnloadModel(grpc::CallbackServerContext* context,
                                                         const v1::UnloadModelRequest* request,
                                                         v1::UnloadModelResponse* /*response*/) {
  const Clock::time_point started = Clock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (Refused(context, reactor, "UnloadModel", Role::kAdmin, started)) return reactor;
  if (absl::Status s = ValidateModelName(request->model(), "model"); !s.ok()) {
    FinishUnary(reactor, metrics_, "", "UnloadModel", started, s);
    return reactor;
  }
  ScheduleControl(
      control_, metrics_, reactor, "UnloadModel", started, [this, reactor, started, name = request->model()] {
        const absl::Status status = registry_->Unload(name);
        FinishUnary(reactor, metrics_, absl::IsNotFound(status) ? "" : name, "UnloadModel", started, status);
      });
  return reactor;
}

grpc::ServerUnaryReactor* HybridServiceImpl::SaveCheckpoint(grpc::CallbackServerContext* context,
                                                            const v1::SaveCheckpointRequest* request,
                                                            v1::SaveCheckpointResponse* response) {
  const Clock::time_point started = Clock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (Refused(context, reactor, "SaveCheckpoint", Role::kAdmin, started)) return reactor;
  absl::StatusOr<std::shared_ptr<ServedModel>> model = FindNamed(*registry_, request->model());
  absl::Status queued = model.status();
  if (model.ok()) {
    queued = (*model)->SaveCheckpoint(
        FinishWithVersion(metrics_, reactor, response, request->model(), "SaveCheckpoint", started));
  }
  if (!queued.ok())
    FinishUnary(reactor, metrics_, model.ok() ? request->model() : "", "SaveCheckpoint", started, queued);
  return reactor;
}

grpc::ServerUnaryReactor* HybridServiceImpl::Rollback(grpc::CallbackServerContext* context,
                                                      const v1::RollbackRequest* request,
                                                      v1::RollbackResponse* response) {
  const Clock::time_point started = Clock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (Refused(context, reactor, "Rollback", Role::kAdmin, started)) return reactor;
  absl::StatusOr<std::shared_ptr<ServedModel>> model = FindNamed(*registry_, request->model());
  absl::Status queued = model.status();
  if (model.ok() && request->version() == 0) {
    queued = absl::InvalidArgumentError("version must be set (one of GetModel's durability.checkpoint_versions)");
  } else if (model.ok()) {
    queued = (*model)->Rollback(request->version(),
                                FinishWithVersion(metrics_, reactor, response, request->model(), "Rollback", started));
  }
  if (!queued.ok()) FinishUnary(reactor, metrics_, model.ok() ? request->model() : "", "Rollback", started, queued);
  return reactor;
}

}  // namespace hybrid::server::rpc
