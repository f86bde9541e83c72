#include "server/rpc/rpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "server/rpc/hybrid_service.h"
#include "server/rpc/inference_service.h"
#include "server/rpc/predict_call.h"
#include "server/rpc/transport_security.h"

namespace hybrid::server::rpc {

RpcServer::~RpcServer() { Shutdown(/*grace_seconds=*/0); }

absl::StatusOr<std::unique_ptr<RpcServer>> RpcServer::Prepare(const Options& options) {
  if (options.max_message_bytes < 1024) return absl::InvalidArgumentError("max_message_bytes must be ≥ 1024");
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = ServerCredentialsFor(options.tls);
  if (!credentials.ok()) return credentials.status();
  std::unique_ptr<RpcServer> server(new RpcServer());
  server->options_ = options;
  server->credentials_ = *std::move(credentials);
  return server;
}

absl::Status RpcServer::Listen(const Core& core) {
  // One forecast path for both protocols.
  predict_ = std::make_unique<PredictCall>(core.registry, core.predict_pool, options_.max_message_bytes);
  const ServiceCore services{core, predict_.get()};
  service_ = std::make_unique<HybridServiceImpl>(services);
  inference_ = std::make_unique<InferenceServiceImpl>(services);

  grpc::EnableDefaultHealthCheckService(true);
  // Reflection lets grpcurl and similar tools discover the services; like
  // health it needs no token (it describes the API, no model or data).
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.address, credentials_, &port_);
  builder.RegisterService(service_.get());
  builder.RegisterService(inference_.get());
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10 * 1000);
  builder.SetMaxReceiveMessageSize(options_.max_message_bytes);
  builder.SetMaxSendMessageSize(options_.max_message_bytes);  // Predict refuses larger answers before computing them.
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on grpc_address ", options_.address,
        options_.tls.cert.empty() ? "" : " (or tls_cert and tls_key are not a valid PEM certificate and its key)"));
  }
  return absl::OkStatus();
}

void RpcServer::Shutdown(double grace_seconds) {
  if (server_ == nullptr) return;
  if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(grace_seconds * 1000)));
  server_->Wait();
  server_.reset();
}

}  // namespace hybrid::server::rpc
