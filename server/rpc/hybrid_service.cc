#include "server/rpc/hybrid_service.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "server/rpc/calibrate_reactor.h"
#include "server/rpc/message_codec.h"
#include "server/rpc/status_conversion.h"

namespace hybrid::server::rpc {
namespace {

using Clock = std::chrono::steady_clock;

// Finishes a unary call and records its metrics.
void FinishUnary(grpc::ServerUnaryReactor* reactor, Metrics* metrics, const std::string& model, const char* rpc,
                 Clock::time_point started, const absl::Status& status) {
  metrics->RecordRequest(model, rpc, CodeName(status.code()),
                         std::chrono::duration<double>(Clock::now() - started).count());
  reactor->Finish(ToGrpcStatus(status));
}

}  // namespace

grpc::ServerUnaryReactor* HybridServiceImpl::Predict(grpc::CallbackServerContext* context,
                                                     const v1::PredictRequest* request, v1::PredictResponse* response) {
  const Clock::time_point started = Clock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<PredictQuery> query = DecodePredictRequest(*request);
  absl::StatusOr<ServedModel*> model =
      query.ok() ? registry_->Find(query->model) : absl::StatusOr<ServedModel*>(query.status());
  if (!model.ok()) {
    // Unresolved names are not used as labels: clients must not grow the metric set.
    FinishUnary(reactor, metrics_, "", "Predict", started, model.status());
    return reactor;
  }
  const bool scheduled =
      pool_->TrySchedule([this, context, reactor, response, started, model = *model, query = *std::move(query)]() {
        if (std::chrono::system_clock::now() > context->deadline()) {  // Waited in the queue too long.
          FinishUnary(reactor, metrics_, model->name(), "Predict", started,
                      absl::DeadlineExceededError("deadline passed before the forecast started"));
          return;
        }
        absl::StatusOr<PredictAnswer> answer = model->Predict(query);
        if (answer.ok()) *response = EncodePredictAnswer(*answer);
        FinishUnary(reactor, metrics_, model->name(), "Predict", started, answer.status());
      });
  if (!scheduled) {
    FinishUnary(reactor, metrics_, (*model)->name(), "Predict", started,
                absl::ResourceExhaustedError("the Predict worker pool is full; retry later"));
  }
  return reactor;
}

grpc::ServerBidiReactor<v1::CalibrateRequest, v1::CalibrateResponse>* HybridServiceImpl::Calibrate(
    grpc::CallbackServerContext* context) {
  return new CalibrateReactor(context, registry_, metrics_);
}

grpc::ServerUnaryReactor* HybridServiceImpl::ListModels(grpc::CallbackServerContext* context,
                                                        const v1::ListModelsRequest* /*request*/,
                                                        v1::ListModelsResponse* response) {
  const Clock::time_point started = Clock::now();
  for (const ServedModel* model : registry_->List()) {
    const ModelInfo info = model->Info();
    v1::ModelSummary* summary = response->add_models();
    summary->set_name(info.name);
    summary->set_description(info.description);
    summary->set_version(info.version);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  FinishUnary(reactor, metrics_, "", "ListModels", started, absl::OkStatus());
  return reactor;
}

grpc::ServerUnaryReactor* HybridServiceImpl::GetModel(grpc::CallbackServerContext* context,
                                                      const v1::GetModelRequest* request,
                                                      v1::GetModelResponse* response) {
  const Clock::time_point started = Clock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<ServedModel*> model =
      request->model().empty() ? absl::StatusOr<ServedModel*>(absl::InvalidArgumentError("model must be set"))
                               : registry_->Find(request->model());
  if (model.ok()) {
    const ModelInfo info = (*model)->Info();
    *response->mutable_config() = (*model)->config();
    EncodeParameters(info.parameters, response->mutable_parameters());
    response->set_version(info.version);
    response->set_observations_accepted(info.observations_accepted);
  }
  FinishUnary(reactor, metrics_, model.ok() ? (*model)->name() : "", "GetModel", started, model.status());
  return reactor;
}

}  // namespace hybrid::server::rpc
