#include "client/hybrid_client.h"

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>

#include "base/file_contents.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace hybrid::client {
namespace {

absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

// The version a control RPC answers with.
template <typename Response>
absl::StatusOr<uint64_t> VersionOf(const absl::StatusOr<Response>& response) {
  if (!response.ok()) return response.status();
  return response->version();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> CredentialsFor(const ClientOptions& options) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("tls_cert and tls_key must be given together");
  }
  if (options.tls_ca_file.empty()) {
    if (!options.tls_cert_file.empty()) return absl::InvalidArgumentError("tls_cert needs tls_ca (TLS)");
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> roots = base::ReadFileContents(options.tls_ca_file);
  if (!roots.ok()) return roots.status();
  ssl.pem_root_certs = *roots;
  if (!options.tls_cert_file.empty()) {
    absl::StatusOr<std::string> cert = base::ReadFileContents(options.tls_cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = base::ReadFileContents(options.tls_key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace

CalibrateStream::~CalibrateStream() {
  if (stream_) context_->TryCancel();  // Finish() not called: do not leave the call open.
}

bool CalibrateStream::Write(const v1::CalibrateRequest& request) { return stream_->Write(request); }
bool CalibrateStream::Read(v1::CalibrateResponse* response) { return stream_->Read(response); }
bool CalibrateStream::WritesDone() { return stream_->WritesDone(); }

absl::Status CalibrateStream::Finish() {
  absl::Status status = FromGrpc(stream_->Finish());
  stream_.reset();
  return status;
}

absl::StatusOr<std::unique_ptr<HybridClient>> HybridClient::Connect(const ClientOptions& options) {
  if (options.target.empty()) return absl::InvalidArgumentError("target must be set");
  if (options.timeout <= absl::ZeroDuration()) return absl::InvalidArgumentError("timeout must be > 0");
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 * 1024 * 1024);
  if (options.max_reconnect_backoff > absl::ZeroDuration()) {
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                static_cast<int>(absl::ToInt64Milliseconds(options.max_reconnect_backoff)));
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                static_cast<int>(std::min<int64_t>(1000, absl::ToInt64Milliseconds(options.max_reconnect_backoff))));
    // A failed channel also waits for its target to be resolved again, at
    // most every 30 s by default: the other half of coming back in time.
    args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS,
                static_cast<int>(absl::ToInt64Milliseconds(options.max_reconnect_backoff)));
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials = CredentialsFor(options);
  if (!credentials.ok()) return credentials.status();
  auto channel = grpc::CreateCustomChannel(options.target, *credentials, args);
  return std::unique_ptr<HybridClient>(new HybridClient(std::move(channel), options));
}

HybridClient::HybridClient(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : channel_(std::move(channel)), options_(std::move(options)), stub_(v1::HybridService::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> HybridClient::NewContext(absl::Duration timeout) const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  if (!options_.token.empty()) context->AddMetadata("authorization", "Bearer " + options_.token);
  return context;
}

template <typename Request, typename Response, typename Method>
absl::StatusOr<Response> HybridClient::Call(Method method, const Request& request) {
  Response response;
  auto context = NewContext(options_.timeout);
  grpc::Status s = (stub_.get()->*method)(context.get(), request, &response);
  if (!s.ok()) return FromGrpc(s);
  return response;
}

absl::StatusOr<v1::ListModelsResponse> HybridClient::ListModels() {
  return Call<v1::ListModelsRequest, v1::ListModelsResponse>(&v1::HybridService::Stub::ListModels,
                                                             v1::ListModelsRequest());
}

absl::StatusOr<v1::GetModelResponse> HybridClient::GetModel(const std::string& model) {
  v1::GetModelRequest request;
  request.set_model(model);
  return Call<v1::GetModelRequest, v1::GetModelResponse>(&v1::HybridService::Stub::GetModel, request);
}

absl::StatusOr<v1::PredictResponse> HybridClient::Predict(const v1::PredictRequest& request) {
  return Call<v1::PredictRequest, v1::PredictResponse>(&v1::HybridService::Stub::Predict, request);
}

absl::StatusOr<uint64_t> HybridClient::LoadModel(const std::string& model) {
  v1::LoadModelRequest request;
  request.set_model(model);
  return VersionOf(Call<v1::LoadModelRequest, v1::LoadModelResponse>(&v1::HybridService::Stub::LoadModel, request));
}

absl::Status HybridClient::UnloadModel(const std::string& model) {
  v1::UnloadModelRequest request;
  request.set_model(model);
  return Call<v1::UnloadModelRequest, v1::UnloadModelResponse>(&v1::HybridService::Stub::UnloadModel, request).status();
}

absl::StatusOr<uint64_t> HybridClient::SaveCheckpoint(const std::string& model) {
  v1::SaveCheckpointRequest request;
  request.set_model(model);
  return VersionOf(
      Call<v1::SaveCheckpointRequest, v1::SaveCheckpointResponse>(&v1::HybridService::Stub::SaveCheckpoint, request));
}

absl::StatusOr<uint64_t> HybridClient::Rollback(const std::string& model, uint64_t version) {
  v1::RollbackRequest request;
  request.set_model(model);
  request.set_version(version);
  return VersionOf(Call<v1::RollbackRequest, v1::RollbackResponse>(&v1::HybridService::Stub::Rollback, request));
}

absl::StatusOr<v1::ObserveResponse> HybridClient::Observe(const v1::ObserveRequest& request) {
  return Call<v1::ObserveRequest, v1::ObserveResponse>(&v1::HybridService::Stub::Observe, request);
}

absl::StatusOr<v1::ListEntitiesResponse> HybridClient::ListEntities(const std::string& model,
                                                                    const std::string& start_after) {
  v1::ListEntitiesRequest request;
  request.set_model(model);
  request.set_start_after(start_after);
  return Call<v1::ListEntitiesRequest, v1::ListEntitiesResponse>(&v1::HybridService::Stub::ListEntities, request);
}

absl::StatusOr<v1::GetEntityResponse> HybridClient::GetEntity(const std::string& model, const std::string& entity) {
  v1::GetEntityRequest request;
  request.set_model(model);
  request.set_entity(entity);
  return Call<v1::GetEntityRequest, v1::GetEntityResponse>(&v1::HybridService::Stub::GetEntity, request);
}

absl::StatusOr<bool> HybridClient::IsServing() {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckResponse response;
  auto context = NewContext(options_.timeout);
  grpc::Status s = health->Check(context.get(), grpc::health::v1::HealthCheckRequest(), &response);
  if (!s.ok()) return FromGrpc(s);
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

std::unique_ptr<CalibrateStream> HybridClient::OpenCalibrate(absl::Duration deadline) {
  std::unique_ptr<CalibrateStream> stream(new CalibrateStream());
  stream->context_ = NewContext(deadline);
  stream->stream_ = stub_->Calibrate(stream->context_.get());
  return stream;
}

}  // namespace hybrid::client
