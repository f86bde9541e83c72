#include "client/hybrid_client.h"

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "grpc/health/v1/health.grpc.pb.h"

namespace hybrid::client {
namespace {

absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
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
  auto channel = grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args);
  return std::unique_ptr<HybridClient>(new HybridClient(std::move(channel), options));
}

HybridClient::HybridClient(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : channel_(std::move(channel)), options_(std::move(options)), stub_(v1::HybridService::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> HybridClient::NewContext(absl::Duration timeout) const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

absl::StatusOr<v1::ListModelsResponse> HybridClient::ListModels() {
  v1::ListModelsResponse response;
  auto context = NewContext(options_.timeout);
  grpc::Status s = stub_->ListModels(context.get(), v1::ListModelsRequest(), &response);
  if (!s.ok()) return FromGrpc(s);
  return response;
}

absl::StatusOr<v1::GetModelResponse> HybridClient::GetModel(const std::string& model) {
  v1::GetModelRequest request;
  request.set_model(model);
  v1::GetModelResponse response;
  auto context = NewContext(options_.timeout);
  grpc::Status s = stub_->GetModel(context.get(), request, &response);
  if (!s.ok()) return FromGrpc(s);
  return response;
}

absl::StatusOr<v1::PredictResponse> HybridClient::Predict(const v1::PredictRequest& request) {
  v1::PredictResponse response;
  auto context = NewContext(options_.timeout);
  grpc::Status s = stub_->Predict(context.get(), request, &response);
  if (!s.ok()) return FromGrpc(s);
  return response;
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
