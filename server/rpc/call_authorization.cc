#include "server/rpc/call_authorization.h"

namespace hybrid::server::rpc {

absl::Status AuthorizeCall(const AccessTokens* tokens, const grpc::ServerContextBase& context, Role needed) {
  if (tokens == nullptr) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  const auto header = metadata.find("authorization");
  const absl::string_view authorization =
      header == metadata.end() ? absl::string_view() : absl::string_view(header->second.data(), header->second.size());
  return tokens->Authorize(authorization, needed).status();
}

}  // namespace hybrid::server::rpc
