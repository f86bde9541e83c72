// UnaryCall: one unary call in flight — its RPC name (typed once, where the
// handler begins), its arrival time, its reactor — and the steps every unary
// handler shares: refusing a token that lacks the role, finishing with the
// call's metrics recorded, handing blocking model-control work to the control
// thread.
//
//   const UnaryCall call(context, "GetModel", Role::kRead, tokens, metrics);
//   if (call.refused()) return call.reactor();
//   ...
//   return call.Finish(model_name, status);
//
// A small value: copy it into the lambdas that finish the call later.
// Thread-safe: any thread may finish a call (once).
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/core/access_tokens.h"
#include "server/core/metrics.h"
#include "server/core/thread_pool.h"

namespace hybrid::server::rpc {

using UnaryClock = std::chrono::steady_clock;

class UnaryCall {
 public:
  // Starts the clock. `needed` nullopt: anyone may call (liveness and
  // readiness). Otherwise, unless the call's token has the role (tokens null:
  // no authentication), the call is finished at once UNAUTHENTICATED or
  // PERMISSION_DENIED, with no model label, and refused() is true.
  UnaryCall(grpc::CallbackServerContext* context, const char* rpc, std::optional<Role> needed,
            const AccessTokens* tokens, Metrics* metrics);

  bool refused() const { return refused_; }
  grpc::ServerUnaryReactor* reactor() const { return reactor_; }
  grpc::CallbackServerContext* context() const { return context_; }
  UnaryClock::time_point started() const { return started_; }

  // Records hybrid_requests_total and the latency histogram under (model, rpc,
  // code), then finishes the call; returns its reactor for the handler.
  grpc::ServerUnaryReactor* Finish(const std::string& model, const absl::Status& status) const;

  // Runs `work` on the control thread (loads and unloads block for a model's
  // start-up or drain); a full queue finishes the call RESOURCE_EXHAUSTED.
  grpc::ServerUnaryReactor* OnControlThread(ThreadPool* control, std::function<void()> work) const;

  // A completion for work answered with a version (the model's worker):
  // sets `response`'s version and finishes under `model`.
  template <typename Response>
  std::function<void(absl::StatusOr<uint64_t>)> FinishWithVersion(Response* response, std::string model) const {
    return [call = *this, response, model = std::move(model)](absl::StatusOr<uint64_t> version) {
      if (version.ok()) response->set_version(*version);
      call.Finish(model, version.status());
    };
  }

 private:
  grpc::CallbackServerContext* context_;
  grpc::ServerUnaryReactor* reactor_;
  const char* rpc_;
  Metrics* metrics_;
  UnaryClock::time_point started_;
  bool refused_ = false;
};

}  // namespace hybrid::server::rpc
