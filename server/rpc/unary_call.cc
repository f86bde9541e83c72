#include "server/rpc/unary_call.h"

#include "server/rpc/call_authorization.h"
#include "server/rpc/status_conversion.h"

namespace hybrid::server::rpc {

void FinishUnary(grpc::ServerUnaryReactor* reactor, Metrics* metrics, const std::string& model, const char* rpc,
                 UnaryClock::time_point started, const absl::Status& status) {
  metrics->RecordRequest(model, rpc, CodeName(status.code()),
                         std::chrono::duration<double>(UnaryClock::now() - started).count());
  reactor->Finish(ToGrpcStatus(status));
}

bool RefusedCall(const AccessTokens* tokens, Metrics* metrics, grpc::CallbackServerContext* context,
                 grpc::ServerUnaryReactor* reactor, const char* rpc, Role needed, UnaryClock::time_point started) {
  const absl::Status allowed = AuthorizeCall(tokens, *context, needed);
  if (allowed.ok()) return false;
  FinishUnary(reactor, metrics, "", rpc, started, allowed);
  return true;
}

void ScheduleControl(ThreadPool* control, Metrics* metrics, grpc::ServerUnaryReactor* reactor, const char* rpc,
                     UnaryClock::time_point started, std::function<void()> work) {
  if (!control->TrySchedule(std::move(work))) {
    FinishUnary(reactor, metrics, "", rpc, started,
                absl::ResourceExhaustedError("too many load/unload requests are waiting; retry later"));
  }
}

}  // namespace hybrid::server::rpc
