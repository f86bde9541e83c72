// RpcServer: hybridserve's gRPC port — hybrid.v1.HybridService, the Open
// Inference Protocol's inference.GRPCInferenceService, grpc.health.v1 and
// server reflection — over the server core's registry and pools.
//
//   absl::StatusOr<std::unique_ptr<RpcServer>> rpc = RpcServer::Prepare(options);  // reads TLS files
//   ... load the models ...
//   absl::Status listening = (*rpc)->Listen(core);   // binds, starts serving
//   int port = (*rpc)->port();
//   (*rpc)->Shutdown(2.0);
//
// This header names no gRPC type: the rest of the server configures and runs
// the port without linking gRPC (only libhybrid_rpc does).
//
// Thread-safety: Prepare, Listen and Shutdown from one thread; the services
// run on gRPC's threads and the Predict pool.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/rpc/tls_files.h"

namespace grpc {
class Server;
class ServerCredentials;
}  // namespace grpc
namespace hybrid::server {

class AccessTokens;
class Metrics;
class ModelRegistry;
class ThreadPool;

namespace rpc {

class HybridServiceImpl;
class InferenceServiceImpl;
class PredictCall;

class RpcServer {
 public:
  // No defaults here: HybridServer::Options holds them (server/hybrid_server.h).
  struct Options {
    std::string address;  // HOST:PORT; port 0: the OS picks one.
    TlsFiles tls;         // Empty: plaintext.
    // Larger requests: RESOURCE_EXHAUSTED (by gRPC); a Predict whose answer
    // would be larger: OUT_OF_RANGE before any work. ≥ 1024.
    int max_message_bytes = 0;
  };
  // What the services call; all outlive the RpcServer's Shutdown.
  struct Core {
    ModelRegistry* registry = nullptr;
    Metrics* metrics = nullptr;
    ThreadPool* predict_pool = nullptr;  // Predict and ModelInfer run here.
    ThreadPool* control = nullptr;       // LoadModel / UnloadModel, one at a time.
    const AccessTokens* tokens = nullptr;  // Null: no authentication.
  };

  // Reads the TLS files (INVALID_ARGUMENT naming the option, UNAVAILABLE
  // naming an unreadable file; server/rpc/transport_security.h), so that a
  // typo in them costs no model load.
  static absl::StatusOr<std::unique_ptr<RpcServer>> Prepare(const Options& options);
  ~RpcServer();

  // Builds the services and listens; UNAVAILABLE when the address cannot be
  // bound or the certificate and key are not a valid PEM pair.
  absl::Status Listen(const Core& core);
  int port() const { return port_; }

  // Health goes NOT_SERVING, new calls are refused, in-flight calls (streams
  // included) get up to `grace_seconds` to finish and are cancelled after.
  // Idempotent; nothing happens before Listen.
  void Shutdown(double grace_seconds);

 private:
  RpcServer() = default;

  Options options_;
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  std::unique_ptr<PredictCall> predict_;
  std::unique_ptr<HybridServiceImpl> service_;
  std::unique_ptr<InferenceServiceImpl> inference_;  // KServe v2 / Triton clients.
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace rpc
}  // namespace hybrid::server
