#include "server/rpc/unary_call.h"

#include "server/rpc/call_authorization.h"
#include "server/rpc/status_conversion.h"

namespace hybrid::server::rpc {

UnaryCall::UnaryCall(grpc::CallbackServerContext* context, const char* rpc, std::optional<Role> needed,
                     const AccessTokens* tokens, Metrics* metrics)
    : context_(context),
      reactor_(context->DefaultReactor()),
      rpc_(rpc),
      metrics_(metrics),
      started_(UnaryClock::now()) {
  if (!needed) return;
  const absl::Status allowed = AuthorizeCall(tokens, *context, *needed);
  if (allowed.ok()) return;
  refused_ = true;
  Finish("", allowed);
}

grpc::ServerUnaryReactor* UnaryCall::Finish(const std::string& model, const absl::Status& status) const {
  metrics_->RecordRequest(model, rpc_, CodeName(status.code()),
                          std::chrono::duration<double>(UnaryClock::now() - started_).count());
  reactor_->Finish(ToGrpcStatus(status));
  return reactor_;
}

grpc::ServerUnaryReactor* UnaryCall::OnControlThread(ThreadPool* control, std::function<void()> work) const {
  if (!control->TrySchedule(std::move(work))) {
    Finish("", absl::ResourceExhaustedError("too many load/unload requests are waiting; retry later"));
  }
  return reactor_;
}

}  // namespace hybrid::server::rpc
