// ServiceCore: what every service of the gRPC port reads — the server core
// RpcServer was given (registry, metrics, pools, tokens) and the one Predict
// path — and how each of their unary calls begins. Plain pointers, owned by
// RpcServer and its caller; they must outlive the services. Thread-safe to read.
#pragma once

#include <optional>

#include "server/core/access_tokens.h"
#include "server/core/metrics.h"
#include "server/core/model_registry.h"
#include "server/core/thread_pool.h"
#include "server/rpc/predict_call.h"
#include "server/rpc/rpc_server.h"
#include "server/rpc/unary_call.h"

namespace hybrid::server::rpc {

struct ServiceCore : RpcServer::Core {
  const PredictCall* predict = nullptr;  // Predict and ModelInfer.

  // The call, already finished UNAUTHENTICATED / PERMISSION_DENIED unless its
  // token has `needed` (server/rpc/unary_call.h); nullopt: anyone may call.
  UnaryCall Begin(grpc::CallbackServerContext* context, const char* rpc, std::optional<Role> needed) const {
    return UnaryCall(context, rpc, needed, tokens, metrics);
  }
};

}  // namespace hybrid::server::rpc
