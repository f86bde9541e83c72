// Bearer-token checks of gRPC calls (server/core/access_tokens.h holds the tokens).
//
//   absl::Status allowed = AuthorizeCall(tokens, *context, Role::kRead);
//
// `tokens` null means the server runs without --auth_tokens: every call is
// allowed. Otherwise the call's "authorization" metadata must carry a token
// with the role: UNAUTHENTICATED / PERMISSION_DENIED as AccessTokens says.
// RejectedStream answers a bidirectional stream that failed the check without
// reading from it. Thread-safe.
#pragma once

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include "absl/status/status.h"
#include "server/core/access_tokens.h"

namespace hybrid::server::rpc {

absl::Status AuthorizeCall(const AccessTokens* tokens, const grpc::ServerContextBase& context, Role needed);

// Finishes its stream at once with `status`; deletes itself when done.
template <typename Request, typename Response>
class RejectedStream : public grpc::ServerBidiReactor<Request, Response> {
 public:
  explicit RejectedStream(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace hybrid::server::rpc
