// The steps unary RPC adapters share: refusing a call whose token lacks the
// role, finishing a call with its metrics recorded, and handing blocking
// model-control work to the control thread.
//
//   const UnaryClock::time_point started = UnaryClock::now();
//   if (RefusedCall(tokens, metrics, context, reactor, "GetModel", Role::kRead, started)) return reactor;
//   ...
//   FinishUnary(reactor, metrics, model_name, "GetModel", started, status);
//
// Thread-safe: any thread may finish a call.
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <chrono>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "server/access_tokens.h"
#include "server/metrics.h"
#include "server/thread_pool.h"

namespace hybrid::server::rpc {

using UnaryClock = std::chrono::steady_clock;

// Records hybrid_requests_total / the latency histogram under (model, rpc, code), then finishes.
void FinishUnary(grpc::ServerUnaryReactor* reactor, Metrics* metrics, const std::string& model, const char* rpc,
                 UnaryClock::time_point started, const absl::Status& status);

// True (the call is finished UNAUTHENTICATED / PERMISSION_DENIED, with no
// model label) unless the call's token has `needed`; tokens null: false.
bool RefusedCall(const AccessTokens* tokens, Metrics* metrics, grpc::CallbackServerContext* context,
                 grpc::ServerUnaryReactor* reactor, const char* rpc, Role needed, UnaryClock::time_point started);

// Runs `work` on the control thread (loads and unloads block for a model's
// start-up or drain); a full queue finishes the call RESOURCE_EXHAUSTED.
void ScheduleControl(ThreadPool* control, Metrics* metrics, grpc::ServerUnaryReactor* reactor, const char* rpc,
                     UnaryClock::time_point started, std::function<void()> work);

}  // namespace hybrid::server::rpc
