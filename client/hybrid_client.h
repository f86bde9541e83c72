// HybridClient: a C++ client of hybrid.v1.HybridService with a deadline on
// every call.
//
//   ClientOptions options;
//   options.target = "127.0.0.1:50051";
//   absl::StatusOr<std::unique_ptr<HybridClient>> c = HybridClient::Connect(options);
//   absl::StatusOr<v1::PredictResponse> r = (*c)->Predict(request);
//   auto stream = (*c)->OpenCalibrate(absl::Minutes(10));   // one deadline for the whole stream
//   stream->Write(observation); stream->Read(&answer); stream->Finish();
//
// gRPC failures come back as absl::Status with the server's code and message.
// Connect is INVALID_ARGUMENT for inconsistent options and UNAVAILABLE naming
// a TLS file it cannot read; it does not contact the server.
// Thread-safe for unary calls; a CalibrateStream belongs to one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hybrid/v1/hybrid_service.grpc.pb.h"

namespace grpc {
class Channel;
class ClientContext;
}  // namespace grpc

namespace hybrid::client {

struct ClientOptions {
  std::string target = "127.0.0.1:50051";
  absl::Duration timeout = absl::Seconds(30);  // Per unary call.
  // TLS when tls_ca_file is set: the server's certificate must chain to it.
  // With tls_cert_file + tls_key_file the client also presents a certificate (mutual TLS).
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  // Sent as "authorization: Bearer <token>" on every call when not empty.
  std::string token;
  // Longest wait between attempts to reach a server that is down (gRPC's own
  // default grows to 120 s); zero: gRPC's default. For long-lived clients.
  absl::Duration max_reconnect_backoff = absl::ZeroDuration();
};

class CalibrateStream {
 public:
  ~CalibrateStream();
  bool Write(const v1::CalibrateRequest& request);
  bool Read(v1::CalibrateResponse* response);
  bool WritesDone();
  absl::Status Finish();

 private:
  friend class HybridClient;
  CalibrateStream() = default;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::CalibrateRequest, v1::CalibrateResponse>> stream_;
};

class HybridClient {
 public:
  static absl::StatusOr<std::unique_ptr<HybridClient>> Connect(const ClientOptions& options);

  absl::StatusOr<v1::ListModelsResponse> ListModels();
  absl::StatusOr<v1::GetModelResponse> GetModel(const std::string& model);
  absl::StatusOr<v1::PredictResponse> Predict(const v1::PredictRequest& request);
  // Repository control; each answers the model's version where the RPC gives one.
  absl::StatusOr<uint64_t> LoadModel(const std::string& model);
  absl::Status UnloadModel(const std::string& model);
  absl::StatusOr<uint64_t> SaveCheckpoint(const std::string& model);
  absl::StatusOr<uint64_t> Rollback(const std::string& model, uint64_t version);
  // Entities.
  absl::StatusOr<v1::ObserveResponse> Observe(const v1::ObserveRequest& request);
  absl::StatusOr<v1::ListEntitiesResponse> ListEntities(const std::string& model, const std::string& start_after);
  absl::StatusOr<v1::GetEntityResponse> GetEntity(const std::string& model, const std::string& entity);
  // SERVING / NOT_SERVING of the whole server (grpc.health.v1).
  absl::StatusOr<bool> IsServing();
  std::unique_ptr<CalibrateStream> OpenCalibrate(absl::Duration deadline);

 private:
  HybridClient(std::shared_ptr<grpc::Channel> channel, ClientOptions options);
  std::unique_ptr<grpc::ClientContext> NewContext(absl::Duration timeout) const;
  // Runs one unary call of stub_ under the unary timeout.
  template <typename Request, typename Response, typename Method>
  absl::StatusOr<Response> Call(Method method, const Request& request);

  std::shared_ptr<grpc::Channel> channel_;
  ClientOptions options_;
  std::unique_ptr<v1::HybridService::Stub> stub_;
};

}  // namespace hybrid::client
