#include "server/rpc/status_conversion.h"

namespace hybrid::server::rpc {

std::string TruncatedMessage(const absl::Status& status) {
  std::string message(status.message());
  if (message.size() > kMaxStatusMessage) {
    size_t cut = kMaxStatusMessage - 3;
    // Never split a UTF-8 sequence: proto3 strings must stay valid UTF-8.
    while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
    message.resize(cut);
    message += "...";
  }
  return message;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), TruncatedMessage(status));
}

std::string CodeName(absl::StatusCode code) { return absl::StatusCodeToString(code); }

}  // namespace hybrid::server::rpc
