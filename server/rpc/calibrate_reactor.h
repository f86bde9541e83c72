// CalibrateReactor: one server-side Calibrate stream.
//
// Reads observations one at a time, decodes them (INVALID_ARGUMENT / NOT_FOUND /
// OUT_OF_RANGE / RESOURCE_EXHAUSTED are answered in-stream with the sequence
// number, and the stream stays open) and hands valid ones to their model's
// calibration worker, in arrival order. Answers are written in arrival order
// too: a rejection made at once waits behind the answers the worker still
// owes for earlier observations. A stream calibrates one model: the
// first observation that names a served model binds it (observations naming
// another are INVALID_ARGUMENT in-stream), and takes one of the model's
// limits.max_calibrate_streams slots — none free finishes the stream with
// RESOURCE_EXHAUSTED. Sequence numbers must increase strictly within a stream
// (INVALID_ARGUMENT naming `sequence` otherwise). Backpressure: at most
// kMaxInFlight observations of a stream may wait for their answer; beyond
// that the reactor stops reading until answers are written. When the client
// half-closes, the stream finishes OK once every answer is written, or
// INVALID_ARGUMENT if it carried no observation at all. A cancelled stream's
// observations that are still queued are not logged or applied.
//
// Reactions only decode and queue; torch work happens on the worker thread.
// Deletes itself in OnDone; answers arriving from a worker after that are
// dropped (the Outbox it shares with them is detached first).
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "hybrid/v1/hybrid_service.pb.h"
#include "server/core/metrics.h"
#include "server/core/model_registry.h"

namespace hybrid::server::rpc {

class CalibrateReactor : public grpc::ServerBidiReactor<v1::CalibrateRequest, v1::CalibrateResponse> {
 public:
  static constexpr int kMaxInFlight = 64;

  CalibrateReactor(grpc::CallbackServerContext* context, ModelRegistry* registry, Metrics* metrics);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  // Shared with worker callbacks so that a late answer never touches a deleted reactor.
  class Outbox {
   public:
    explicit Outbox(CalibrateReactor* reactor) : reactor_(reactor) {}
    // The answer for the observation read into `slot` (see Reserve).
    void Deliver(uint64_t slot, v1::CalibrateResponse response);
    void Detach();
    // True once the stream is cancelled or done: its queued observations are dropped.
    bool Gone() const { return gone_.load(); }
    void MarkGone() { gone_.store(true); }

   private:
    absl::Mutex mu_;
    CalibrateReactor* reactor_ ABSL_GUARDED_BY(mu_);
    std::atomic<bool> gone_{false};
  };

 private:
  void Handle(const v1::CalibrateRequest& request);
  // The stream's model: binds it on first use. RESOURCE_EXHAUSTED (no stream
  // slot free) ends the stream; other errors answer the one observation.
  absl::StatusOr<std::shared_ptr<ServedModel>> BindModel(const std::string& name);
  // The answer slot of the next observation read: answers are written in slot order.
  uint64_t Reserve();
  void Fill(uint64_t slot, v1::CalibrateResponse response);
  // Writes the oldest answer when it is ready and no write is in flight.
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeResumeReadingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishOnceLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  grpc::CallbackServerContext* const context_;
  ModelRegistry* const registry_;
  Metrics* const metrics_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  const std::shared_ptr<Outbox> outbox_;
  v1::CalibrateRequest request_;  // Owned by the single read in flight.

  absl::Mutex mu_;
  // Answers in arrival order, from slot first_slot_ on; empty until produced.
  std::deque<std::optional<v1::CalibrateResponse>> slots_ ABSL_GUARDED_BY(mu_);
  uint64_t first_slot_ ABSL_GUARDED_BY(mu_) = 0;
  v1::CalibrateResponse writing_response_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reading_paused_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // Read but not yet written.
  std::string model_label_ ABSL_GUARDED_BY(mu_);
  // Reaction thread only (one read in flight at a time):
  std::shared_ptr<ServedModel> model_;  // Bound model; holds one of its stream slots.
  bool any_read_ = false;
  std::optional<uint64_t> last_sequence_;
};

}  // namespace hybrid::server::rpc
