#include "server/rpc/hybrid_server.h"

#include <ATen/Parallel.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "server/access_tokens.h"
#include "server/blas_check.h"
#include "server/http_endpoint.h"
#include "server/memory_release.h"
#include "server/metrics.h"
#include "server/model_registry.h"
#include "server/rpc/hybrid_service.h"
#include "server/rpc/inference_service.h"
#include "server/thread_pool.h"

namespace hybrid::server {

HybridServer::HybridServer() = default;

HybridServer::~HybridServer() { Shutdown(); }

absl::StatusOr<std::unique_ptr<HybridServer>> HybridServer::Start(const Options& options) {
  if (options.torch_threads < 1 || options.predict_threads < 1 || options.predict_queue < 1) {
    return absl::InvalidArgumentError("torch_threads, predict_threads and predict_queue must be ≥ 1");
  }
  if (options.max_message_bytes < 1024) return absl::InvalidArgumentError("max_message_bytes must be ≥ 1024");
  if (absl::Status blas = CheckBlasIsThreadSafe(); !blas.ok()) return blas;
  // Security files first: a typo in them should not cost a model load.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = rpc::ServerCredentialsFor(options.tls);
  if (!credentials.ok()) return credentials.status();
  std::unique_ptr<HybridServer> server(new HybridServer());
  if (!options.auth_tokens_file.empty()) {
    absl::StatusOr<AccessTokens> tokens = AccessTokens::Load(options.auth_tokens_file);
    if (!tokens.ok()) return tokens.status();
    server->tokens_ = std::make_unique<AccessTokens>(*std::move(tokens));
  }
  at::set_num_threads(options.torch_threads);
  UseFixedAllocatorThresholds();  // Large requests' memory goes back to the OS (server/memory_release.h).

  server->metrics_ = std::make_unique<Metrics>();
  ModelRegistry::Options registry_options;
  registry_options.repository = options.model_repository;
  registry_options.state_root = options.state_dir;
  registry_options.load_all = options.load_all_models;
  registry_options.load = options.load_models;
  registry_options.shard = options.shard;
  absl::StatusOr<std::unique_ptr<ModelRegistry>> registry =
      ModelRegistry::Open(registry_options, server->metrics_.get());
  if (!registry.ok()) return registry.status();
  server->registry_ = *std::move(registry);
  server->pool_ = std::make_unique<ThreadPool>(options.predict_threads, options.predict_queue);
  server->control_ = std::make_unique<ThreadPool>(/*threads=*/1, /*capacity=*/64);
  // One forecast path for both protocols.
  server->predict_ = std::make_unique<rpc::PredictCall>(server->registry_.get(), server->metrics_.get(),
                                                        server->pool_.get(), options.max_message_bytes);
  server->service_ =
      std::make_unique<rpc::HybridServiceImpl>(server->registry_.get(), server->metrics_.get(), server->predict_.get(),
                                               server->control_.get(), server->tokens_.get());
  server->inference_ = std::make_unique<rpc::InferenceServiceImpl>(server->registry_.get(), server->metrics_.get(),
                                                                   server->predict_.get(), server->control_.get(),
                                                                   server->tokens_.get());

  absl::StatusOr<std::unique_ptr<HttpEndpoint>> http =
      HttpEndpoint::Start(options.metrics_address, server->metrics_.get(), server->registry_.get());
  if (!http.ok()) return http.status();
  server->http_ = *std::move(http);
  server->metrics_port_ = server->http_->port();

  grpc::EnableDefaultHealthCheckService(true);
  // Reflection lets grpcurl and similar tools discover the services; like
  // health it needs no token (it describes the API, no model or data).
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.grpc_address, *credentials, &server->grpc_port_);
  builder.RegisterService(server->service_.get());
  builder.RegisterService(server->inference_.get());
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10 * 1000);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);  // Predict refuses larger answers before computing them.
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->grpc_port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on grpc_address ", options.grpc_address,
        options.tls.cert.empty() ? "" : " (or tls_cert and tls_key are not a valid PEM certificate and its key)"));
  }
  return server;
}

void HybridServer::Shutdown(double grace_seconds) {
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(grace_seconds * 1000)));
  server_->Wait();
  control_.reset();   // Finishes a load or unload in progress.
  pool_.reset();      // Runs queued Predicts (their calls are already finished or cancelled).
  http_.reset();      // Its handlers read the registry.
  registry_.reset();  // Each model answers what it holds, checkpoints, then stops.
}

}  // namespace hybrid::server
