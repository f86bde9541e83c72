// HybridServer: a running hybridserve. It wires the layers together: the
// server core (model registry, Predict and control pools, metrics, tokens),
// the gRPC port (server/rpc/rpc_server.h: hybrid.v1.HybridService, the Open
// Inference Protocol, health and reflection) and the HTTP port (Prometheus
// metrics and the status page, server/http/http_endpoint.h). It names no gRPC
// type and does not link gRPC itself.
//
//   HybridServer::Options options;
//   options.model_repository = "deploy/model_repository";
//   options.grpc_address = "127.0.0.1:0";      // port 0: the OS picks one
//   options.metrics_address = "127.0.0.1:0";
//   absl::StatusOr<std::unique_ptr<HybridServer>> server = HybridServer::Start(options);
//   int port = (*server)->grpc_port();
//   (*server)->Shutdown();                       // also done by the destructor
//
// Used by the hybridserve binary and, in-process, by end-to-end tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/model_shard.h"
#include "server/rpc/tls_files.h"

namespace hybrid::server {

class AccessTokens;
class HttpEndpoint;
class Metrics;
class ModelRegistry;
class ThreadPool;
namespace rpc {
class RpcServer;
}  // namespace rpc

class HybridServer {
 public:
  struct Options {
    std::string model_repository = "deploy/model_repository";
    std::string state_dir;        // Write-ahead logs and checkpoints; empty: the repository.
    bool load_all_models = true;  // false: only `load_models` at start (LoadModel for more).
    std::vector<std::string> load_models;
    base::Shard shard;  // This replica's models (base/model_shard.h); default: all.
    // Larger requests: RESOURCE_EXHAUSTED (by gRPC); a Predict whose answer
    // would be larger: OUT_OF_RANGE before any work.
    int max_message_bytes = 16 << 20;
    std::string grpc_address = "127.0.0.1:50051";
    std::string metrics_address = "127.0.0.1:9464";
    int predict_threads = 2;
    size_t predict_queue = 256;
    int torch_threads = 1;  // Intra-op threads; small ops do best with 1.
    // Security of the gRPC port (the HTTP port has none: keep it on a private network).
    rpc::TlsFiles tls;             // Empty: plaintext. See server/rpc/transport_security.h.
    std::string auth_tokens_file;  // Empty: no authentication. See server/core/access_tokens.h.
  };

  // Loads the models, then listens. A model that fails to load is reported on
  // stderr and listed as FAILED; the others serve. NOT_FOUND for a missing
  // repository, INVALID_ARGUMENT for a bad option or tokens file; UNAVAILABLE
  // when an address cannot be bound or a TLS/tokens file cannot be read;
  // FAILED_PRECONDITION on a BLAS that is not thread-safe (server/core/blas_check.h).
  static absl::StatusOr<std::unique_ptr<HybridServer>> Start(const Options& options);
  ~HybridServer();

  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }

  // Health goes NOT_SERVING, new calls are refused, in-flight calls (streams
  // included) get up to `grace_seconds` to finish and are cancelled after;
  // then every model answers what it has queued, writes its checkpoint and
  // stops. Idempotent.
  void Shutdown(double grace_seconds = 2.0);

 private:
  HybridServer();

  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<AccessTokens> tokens_;  // Null: no authentication.
  std::unique_ptr<ModelRegistry> registry_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<ThreadPool> control_;  // LoadModel / UnloadModel, one at a time.
  std::unique_ptr<rpc::RpcServer> rpc_;
  std::unique_ptr<HttpEndpoint> http_;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  bool shut_down_ = false;
};

}  // namespace hybrid::server
