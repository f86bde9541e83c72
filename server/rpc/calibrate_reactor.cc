#include "server/rpc/calibrate_reactor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/model_name.h"
#include "server/rpc/message_codec.h"
#include "server/rpc/status_conversion.h"

namespace hybrid::server::rpc {

void CalibrateReactor::Outbox::Deliver(uint64_t slot, v1::CalibrateResponse response) {
  absl::MutexLock lock(&mu_);
  if (reactor_ != nullptr) reactor_->Fill(slot, std::move(response));
}

void CalibrateReactor::Outbox::Detach() {
  MarkGone();
  absl::MutexLock lock(&mu_);
  reactor_ = nullptr;
}

CalibrateReactor::CalibrateReactor(grpc::CallbackServerContext* context, ModelRegistry* registry, Metrics* metrics)
    : context_(context), registry_(registry), metrics_(metrics), outbox_(std::make_shared<Outbox>(this)) {
  StartRead(&request_);
}

void CalibrateReactor::OnReadDone(bool ok) {
  if (!ok) {  // The client half-closed, or the call was cancelled.
    absl::MutexLock lock(&mu_);
    if (context_->IsCancelled()) return FinishOnceLocked(grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled"));
    if (!any_read_) {
      return FinishOnceLocked(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the stream carried no observation (empty stream)"));
    }
    reads_done_ = true;
    if (in_flight_ == 0 && !writing_) FinishOnceLocked(grpc::Status::OK);
    return;
  }
  any_read_ = true;
  {
    absl::MutexLock lock(&mu_);
    ++in_flight_;
  }
  Handle(request_);
  absl::MutexLock lock(&mu_);
  if (finished_) return;
  if (in_flight_ < kMaxInFlight) {
    StartRead(&request_);
  } else {
    reading_paused_ = true;
  }
}

absl::StatusOr<std::shared_ptr<ServedModel>> CalibrateReactor::BindModel(const std::string& name) {
  if (absl::Status s = base::ValidateModelName(name, "model"); !s.ok()) return s;
  if (model_ != nullptr) {
    if (name == model_->name()) return model_;
    return absl::InvalidArgumentError(
        absl::StrCat("model: this stream calibrates '", model_->name(), "'; open another stream for '", name, "'"));
  }
  absl::StatusOr<std::shared_ptr<ServedModel>> model = registry_->Find(name);
  if (!model.ok()) return model.status();
  if (!(*model)->TryOpenStream()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("model '", name, "' already has ", (*model)->config().limits().max_calibrate_streams(),
                     " Calibrate streams open (limits.max_calibrate_streams); retry later"));
  }
  model_ = *model;
  absl::MutexLock lock(&mu_);
  model_label_ = name;
  return model_;
}

void CalibrateReactor::Handle(const v1::CalibrateRequest& request) {
  // Answers leave in arrival order, whoever produces them: a rejection made
  // here waits for the worker's answers to the observations before it.
  const uint64_t slot = Reserve();
  auto answer = [this, slot](v1::CalibrateResponse response) { Fill(slot, std::move(response)); };
  absl::StatusOr<std::shared_ptr<ServedModel>> model = BindModel(request.model());
  if (absl::IsResourceExhausted(model.status())) {
    absl::MutexLock lock(&mu_);
    return FinishOnceLocked(ToGrpcStatus(model.status()));
  }
  if (!model.ok()) return answer(EncodeRejection(request.sequence(), model.status()));
  if (last_sequence_ && request.sequence() <= *last_sequence_) {
    (*model)->CountRejected();
    return answer(EncodeRejection(request.sequence(),
                                  absl::InvalidArgumentError(absl::StrCat("sequence ", request.sequence(),
                                                                          " must be greater than the previous one (",
                                                                          *last_sequence_, ") in this stream"))));
  }
  last_sequence_ = request.sequence();
  absl::StatusOr<Observation> observation = DecodeCalibrateRequest(request);
  if (!observation.ok()) {
    (*model)->CountRejected();
    return answer(EncodeRejection(request.sequence(), observation.status()));
  }
  std::shared_ptr<Outbox> outbox = outbox_;
  observation->cancelled = [outbox] { return outbox->Gone(); };
  const uint64_t sequence = request.sequence();
  absl::Status queued = (*model)->Submit(*std::move(observation), [outbox, slot](ObservationOutcome outcome) {
    outbox->Deliver(slot, EncodeOutcome(outcome));
  });
  if (!queued.ok()) answer(EncodeRejection(sequence, queued));
}

uint64_t CalibrateReactor::Reserve() {
  absl::MutexLock lock(&mu_);
  slots_.emplace_back();
  return first_slot_ + slots_.size() - 1;
}

void CalibrateReactor::Fill(uint64_t slot, v1::CalibrateResponse response) {
  absl::MutexLock lock(&mu_);
  if (finished_) return;
  slots_[slot - first_slot_] = std::move(response);
  if (!writing_) WriteNextLocked();
}

void CalibrateReactor::WriteNextLocked() {
  if (slots_.empty() || !slots_.front().has_value()) return;  // The next answer in order is not ready yet.
  writing_response_ = *std::move(slots_.front());
  slots_.pop_front();
  ++first_slot_;
  writing_ = true;
  StartWrite(&writing_response_);
}

void CalibrateReactor::OnWriteDone(bool ok) {
  absl::MutexLock lock(&mu_);
  writing_ = false;
  if (!ok) return FinishOnceLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "writing an answer failed"));
  --in_flight_;
  if (finished_) return;
  MaybeResumeReadingLocked();
  WriteNextLocked();
  if (!writing_ && reads_done_ && in_flight_ == 0) FinishOnceLocked(grpc::Status::OK);
}

void CalibrateReactor::MaybeResumeReadingLocked() {
  if (reading_paused_ && in_flight_ < kMaxInFlight) {
    reading_paused_ = false;
    StartRead(&request_);
  }
}

void CalibrateReactor::OnCancel() {
  outbox_->MarkGone();
  absl::MutexLock lock(&mu_);
  FinishOnceLocked(grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled"));
}

void CalibrateReactor::FinishOnceLocked(const grpc::Status& status) {
  if (finished_) return;
  finished_ = true;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  metrics_->RecordRequest(model_label_, "Calibrate", CodeName(static_cast<absl::StatusCode>(status.error_code())),
                          seconds);
  Finish(status);
}

void CalibrateReactor::OnDone() {
  outbox_->Detach();
  if (model_ != nullptr) model_->CloseStream();
  delete this;
}

}  // namespace hybrid::server::rpc
