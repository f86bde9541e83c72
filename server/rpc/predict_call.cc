#include "server/rpc/predict_call.h"

#include <chrono>

#include "server/rpc/message_codec.h"

namespace hybrid::server::rpc {

void PredictCall::Run(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor, const char* rpc,
                      const v1::PredictRequest& request, UnaryClock::time_point started, Deliver deliver) const {
  absl::StatusOr<PredictQuery> query = DecodePredictRequest(request);
  absl::StatusOr<std::shared_ptr<ServedModel>> model =
      query.ok() ? registry_->Find(query->model) : absl::StatusOr<std::shared_ptr<ServedModel>>(query.status());
  if (!model.ok()) {
    // Unresolved names are not used as labels: clients must not grow the metric set.
    FinishUnary(reactor, metrics_, "", rpc, started, model.status());
    return;
  }
  const std::string name = (*model)->name();
  const bool scheduled = pool_->TrySchedule([this, context, reactor, rpc, started, deliver = std::move(deliver),
                                             model = *model, query = *std::move(query)]() mutable {
    // Checked between solver steps: the client gave up or the deadline passed.
    // The deadline first: gRPC also marks a call whose deadline passed as cancelled.
    query.interrupt = [context]() -> absl::Status {
      if (std::chrono::system_clock::now() > context->deadline()) {
        return absl::DeadlineExceededError("deadline passed during the forecast");
      }
      if (context->IsCancelled()) return absl::CancelledError("the client cancelled the forecast");
      return absl::OkStatus();
    };
    absl::Status status = query.interrupt();
    absl::StatusOr<PredictAnswer> answer = status.ok() ? model->Predict(query) : status;
    status = answer.ok() ? deliver(EncodePredictAnswer(*answer)) : answer.status();
    FinishUnary(reactor, metrics_, model->name(), rpc, started, status);
  });
  if (!scheduled) {
    FinishUnary(reactor, metrics_, name, rpc, started,
                absl::ResourceExhaustedError("the Predict worker pool is full; retry later"));
  }
}

}  // namespace hybrid::server::rpc
