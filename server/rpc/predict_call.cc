#include "server/rpc/predict_call.h"

#include <chrono>

#include "server/core/memory_release.h"
#include "server/rpc/message_codec.h"

namespace hybrid::server::rpc {
namespace {

// A cancel this close to the call's deadline is the client's own deadline
// passing (see the interrupt below); an explicit cancel so close to it is
// indistinguishable and counts as the deadline too.
constexpr std::chrono::milliseconds kDeadlineTransitMargin{250};

int64_t AnswerValues(const PredictAnswer& a) {
  int64_t values = static_cast<int64_t>(a.mean.values.size() + a.std.values.size());
  for (const IntervalArrays& i : a.intervals)
    values += static_cast<int64_t>(i.lower.values.size() + i.upper.values.size());
  return values;
}

uint64_t Nanoseconds(UnaryClock::duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

}  // namespace

void PredictCall::Run(const UnaryCall& call, const v1::PredictRequest& request, Deliver deliver) const {
  const UnaryClock::time_point started = call.started();
  absl::StatusOr<PredictQuery> query = DecodePredictRequest(request);
  if (query.ok()) query->max_answer_bytes = max_answer_bytes_;
  absl::StatusOr<std::shared_ptr<ServedModel>> model =
      query.ok() ? registry_->Find(query->model) : absl::StatusOr<std::shared_ptr<ServedModel>>(query.status());
  if (!model.ok()) {
    // Unresolved names are not used as labels: clients must not grow the metric set.
    call.Finish("", model.status());
    return;
  }
  const std::string name = (*model)->name();
  const UnaryClock::time_point decoded = UnaryClock::now();
  grpc::CallbackServerContext* context = call.context();
  // Checked while it waits and between solver steps: the client gave up or
  // the deadline passed. The deadline first: gRPC also marks a call whose
  // deadline passed as cancelled. And a client whose own deadline passed
  // cancels the call itself; that cancel can arrive before the server's copy
  // of the deadline passes (later by the request's transit, tens of ms on a
  // loaded machine), so a cancel within kDeadlineTransitMargin of the
  // deadline counts as the deadline.
  query->interrupt = [context]() -> absl::Status {
    const auto now = std::chrono::system_clock::now();
    const auto deadline = context->deadline();
    const bool cancelled = now > deadline || context->IsCancelled();
    if (!cancelled) return absl::OkStatus();
    if (now > deadline - kDeadlineTransitMargin) {
      return absl::DeadlineExceededError("deadline passed before the forecast was done");
    }
    return absl::CancelledError("the client cancelled the forecast");
  };
  const std::shared_ptr<ServedModel> served = *model;
  const int64_t states = Rows(query->initial_state);
  const bool scheduled = served->SchedulePredict(
      *std::move(query), *pool_, served,
      [call, started, decoded, states, deliver = std::move(deliver), served](absl::StatusOr<PredictAnswer> answer,
                                                                             const PredictBatcher::Batch& batch) {
        const bool large = answer.ok() && AnswerValues(*answer) * int64_t{sizeof(double)} >= kLargeAnswerBytes;
        const absl::Status status = answer.ok() ? deliver(EncodePredictAnswer(*answer)) : answer.status();
        answer = absl::CancelledError("released");  // Its arrays go before the trim below.
        const UnaryClock::time_point encoded = UnaryClock::now();
        if (status.ok()) {
          InferenceStatistics::Phases phases;
          phases.queue_ns = Nanoseconds(batch.started - decoded);
          phases.input_ns = Nanoseconds(decoded - started);
          // Its batch's forecast, shared by the batch's requests (as Triton counts compute_infer).
          phases.infer_ns = Nanoseconds(batch.finished - batch.started);
          phases.output_ns = Nanoseconds(encoded - batch.finished);
          phases.total_ns = Nanoseconds(encoded - started);
          served->statistics().RecordSuccess(phases, static_cast<uint64_t>(states), batch.first ? 1 : 0);
        } else {
          served->statistics().RecordFailure(Nanoseconds(encoded - started));
        }
        call.Finish(served->name(), status);
        if (large) ReturnFreeMemory();
      });
  if (!scheduled) {
    served->statistics().RecordFailure(Nanoseconds(UnaryClock::now() - started));
    call.Finish(name, absl::ResourceExhaustedError("the Predict queue is full; retry later"));
  }
}

}  // namespace hybrid::server::rpc
