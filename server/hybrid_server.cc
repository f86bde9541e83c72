#include "server/hybrid_server.h"

#include <ATen/Parallel.h>

#include "absl/strings/str_cat.h"
#include "server/core/access_tokens.h"
#include "server/core/blas_check.h"
#include "server/core/memory_release.h"
#include "server/core/metrics.h"
#include "server/core/model_registry.h"
#include "server/core/thread_pool.h"
#include "server/http/http_endpoint.h"
#include "server/rpc/rpc_server.h"

namespace hybrid::server {

HybridServer::HybridServer() = default;

HybridServer::~HybridServer() { Shutdown(); }

absl::StatusOr<std::unique_ptr<HybridServer>> HybridServer::Start(const Options& options) {
  if (options.torch_threads < 1 || options.predict_threads < 1 || options.predict_queue < 1) {
    return absl::InvalidArgumentError("torch_threads, predict_threads and predict_queue must be ≥ 1");
  }
  if (absl::Status blas = CheckBlasIsThreadSafe(); !blas.ok()) return blas;
  // Security files first: a typo in them should not cost a model load.
  rpc::RpcServer::Options rpc_options;
  rpc_options.address = options.grpc_address;
  rpc_options.tls = options.tls;
  rpc_options.max_message_bytes = options.max_message_bytes;
  absl::StatusOr<std::unique_ptr<rpc::RpcServer>> rpc = rpc::RpcServer::Prepare(rpc_options);
  if (!rpc.ok()) return rpc.status();
  std::unique_ptr<HybridServer> server(new HybridServer());
  if (!options.auth_tokens_file.empty()) {
    absl::StatusOr<AccessTokens> tokens = AccessTokens::Load(options.auth_tokens_file);
    if (!tokens.ok()) return tokens.status();
    server->tokens_ = std::make_unique<AccessTokens>(*std::move(tokens));
  }
  at::set_num_threads(options.torch_threads);
  UseFixedAllocatorThresholds();  // Large requests' memory goes back to the OS (server/core/memory_release.h).

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
  absl::StatusOr<std::unique_ptr<HttpEndpoint>> http =
      HttpEndpoint::Start(options.metrics_address, server->metrics_.get(), server->registry_.get());
  if (!http.ok()) return http.status();
  server->http_ = *std::move(http);
  server->metrics_port_ = server->http_->port();

  server->rpc_ = *std::move(rpc);
  if (absl::Status listening = server->rpc_->Listen({server->registry_.get(), server->metrics_.get(),
                                                      server->pool_.get(), server->control_.get(),
                                                      server->tokens_.get()});
      !listening.ok()) {
    return listening;
  }
  server->grpc_port_ = server->rpc_->port();
  return server;
}

void HybridServer::Shutdown(double grace_seconds) {
  if (shut_down_ || rpc_ == nullptr) return;
  shut_down_ = true;
  rpc_->Shutdown(grace_seconds);
  control_.reset();   // Finishes a load or unload in progress.
  pool_.reset();      // Runs queued Predicts (their calls are already finished or cancelled).
  http_.reset();      // Its handlers read the registry.
  registry_.reset();  // Each model answers what it holds, checkpoints, then stops.
}

}  // namespace hybrid::server
