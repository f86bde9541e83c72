// absl::Status → grpc::Status, the one mapping used by every RPC.
//
// absl codes equal gRPC codes, so the code is a cast; messages are cut to
// kMaxStatusMessage bytes so that no oversized text (or stray backtrace)
// reaches a client.
#pragma once

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"

namespace hybrid::server::rpc {

inline constexpr size_t kMaxStatusMessage = 512;

std::string TruncatedMessage(const absl::Status& status);
grpc::Status ToGrpcStatus(const absl::Status& status);
// "OK", "INVALID_ARGUMENT", … for metric labels.
std::string CodeName(absl::StatusCode code);

}  // namespace hybrid::server::rpc
