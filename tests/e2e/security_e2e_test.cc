// Security of the gRPC port on a real in-process server on loopback: TLS and
// mutual TLS from PEM files (certificates made by make_test_certs.sh), bearer
// tokens with roles — UNAUTHENTICATED without valid credentials,
// PERMISSION_DENIED for the wrong role, the model untouched either way — and
// no token in an error message, a metric or the status JSON.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "client/hybrid_client.h"
#include "server/hybrid_server.h"
#include "tests/e2e/lorenz63_stream.h"
#include "tests/e2e/test_server.h"
#include "tests/scoped_temp_dir.h"

namespace hybrid::testing {
namespace {

constexpr char kReadToken[] = "read-0f1e2d3c4b5a69788796a5b4";
constexpr char kCalibrateToken[] = "calibrate-7c6d5e4f30211223344";
constexpr char kAdminToken[] = "admin-99aa88bb77cc66dd55ee44";

class Security : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    files_ = new ScopedTempDir();
    const std::string command =
        std::string(HYBRID_SOURCE_DIR) + "/tests/e2e/make_test_certs.sh " + files_->path() + " >/dev/null";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    std::ofstream(files_->File("tokens")) << "# client roles token\n"
                                          << "dashboard read " << kReadToken << "\n"
                                          << "gateway calibrate " << kCalibrateToken << "\n"
                                          << "ops read,admin " << kAdminToken << "\n";
  }
  static void TearDownTestSuite() { delete files_; }

  static std::string File(const std::string& name) { return files_->File(name); }

  // Serves lorenz63 only, with `tls` and tokens when asked.
  void Start(server::rpc::TlsFiles tls, bool tokens) {
    server::HybridServer::Options options;
    options.model_repository = std::string(HYBRID_SOURCE_DIR) + "/deploy/model_repository";
    options.state_dir = state_.path();
    options.load_all_models = false;
    options.load_models = {"lorenz63"};
    options.grpc_address = "127.0.0.1:0";
    options.metrics_address = "127.0.0.1:0";
    options.tls = std::move(tls);
    if (tokens) options.auth_tokens_file = File("tokens");
    absl::StatusOr<std::unique_ptr<server::HybridServer>> s = server::HybridServer::Start(options);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }

  std::unique_ptr<client::HybridClient> Client(const std::string& token, const std::string& ca = "",
                                               const std::string& cert = "", const std::string& key = "") {
    client::ClientOptions options;
    options.target = "127.0.0.1:" + std::to_string(server_->grpc_port());
    options.timeout = absl::Seconds(10);
    options.token = token;
    options.tls_ca_file = ca;
    options.tls_cert_file = cert;
    options.tls_key_file = key;
    return client::HybridClient::Connect(options).value();
  }

  // The code a one-observation Calibrate stream ends with (its answer's code when it has one).
  static absl::StatusCode CalibrateOnce(client::HybridClient& client) {
    std::unique_ptr<client::CalibrateStream> stream = client.OpenCalibrate(absl::Seconds(30));
    stream->Write(Lorenz63Observations("lorenz63", 1)[0]);
    v1::CalibrateResponse answer;
    const bool answered = stream->Read(&answer);
    stream->WritesDone();
    const absl::Status finished = stream->Finish();
    if (answered && answer.status().code() != 0) return static_cast<absl::StatusCode>(answer.status().code());
    return finished.code();
  }

  uint64_t Version() { return Client(kReadToken)->GetModel("lorenz63").value().version(); }

  static ScopedTempDir* files_;
  ScopedTempDir state_;
  std::unique_ptr<server::HybridServer> server_;
};

ScopedTempDir* Security::files_ = nullptr;

server::rpc::TlsFiles Tls(std::string cert, std::string key, std::string client_ca = "") {
  server::rpc::TlsFiles files;
  files.cert = std::move(cert);
  files.key = std::move(key);
  files.client_ca = std::move(client_ca);
  return files;
}

TEST_F(Security, MissingOrUnknownTokensAreUnauthenticated) {
  Start({}, /*tokens=*/true);
  for (const std::string token : {"", "not-a-token-of-this-server"}) {
    std::unique_ptr<client::HybridClient> client = Client(token);
    EXPECT_EQ(client->ListModels().status().code(), absl::StatusCode::kUnauthenticated) << token;
    EXPECT_EQ(client->GetModel("lorenz63").status().code(), absl::StatusCode::kUnauthenticated);
    v1::PredictRequest predict;
    predict.set_model("lorenz63");
    EXPECT_EQ(client->Predict(predict).status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(CalibrateOnce(*client), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(client->Rollback("lorenz63", 1).status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(client->UnloadModel("lorenz63").code(), absl::StatusCode::kUnauthenticated);
    // Health stays open: load balancers and Kubernetes probes carry no token.
    EXPECT_TRUE(client->IsServing().value());
  }
  EXPECT_EQ(Version(), 0u);  // Nothing reached the model.
}

TEST_F(Security, EachRoleReachesOnlyItsRpcs) {
  Start({}, /*tokens=*/true);
  std::unique_ptr<client::HybridClient> reader = Client(kReadToken);
  std::unique_ptr<client::HybridClient> gateway = Client(kCalibrateToken);
  std::unique_ptr<client::HybridClient> ops = Client(kAdminToken);

  // read: List/Get/Predict, nothing that changes a model.
  ASSERT_TRUE(reader->ListModels().ok());
  v1::PredictRequest predict;
  predict.set_model("lorenz63");
  *predict.mutable_initial_state() = Lorenz63Observations("lorenz63", 1)[0].start_state();
  predict.mutable_initial_state()->clear_shape();
  predict.mutable_initial_state()->add_shape(3);
  predict.mutable_initial_state()->mutable_f64()->Truncate(3);
  predict.mutable_horizon()->set_horizon(0.1);
  predict.mutable_horizon()->set_step(0.1);
  EXPECT_TRUE(reader->Predict(predict).ok()) << reader->Predict(predict).status();
  EXPECT_EQ(CalibrateOnce(*reader), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reader->SaveCheckpoint("lorenz63").status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reader->LoadModel("lorenz96").status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reader->UnloadModel("lorenz63").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reader->Rollback("lorenz63", 1).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Version(), 0u);

  // calibrate: the stream only.
  EXPECT_EQ(CalibrateOnce(*gateway), absl::StatusCode::kOk);
  EXPECT_EQ(Version(), 1u);
  EXPECT_EQ(gateway->ListModels().status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(gateway->Predict(predict).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(gateway->SaveCheckpoint("lorenz63").status().code(), absl::StatusCode::kPermissionDenied);

  // admin (+ read): control, but not calibration, which it was not given.
  absl::StatusOr<uint64_t> checkpointed = ops->SaveCheckpoint("lorenz63");
  ASSERT_TRUE(checkpointed.ok()) << checkpointed.status();
  EXPECT_EQ(*checkpointed, 1u);
  EXPECT_TRUE(ops->LoadModel("lorenz96").ok());
  EXPECT_TRUE(ops->UnloadModel("lorenz96").ok());
  EXPECT_EQ(CalibrateOnce(*ops), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Version(), 1u);
}

TEST_F(Security, NoTokenInMessagesMetricsOrStatusJson) {
  Start({}, /*tokens=*/true);
  const absl::Status denied = Client(kReadToken)->Rollback("lorenz63", 1).status();
  EXPECT_NE(denied.message().find("client 'dashboard' lacks the role 'admin'"), std::string::npos) << denied;
  const absl::Status unknown = Client(std::string(kAdminToken) + "x")->ListModels().status();
  EXPECT_EQ(CalibrateOnce(*Client(kCalibrateToken)), absl::StatusCode::kOk);

  const std::string metrics = ScrapeMetrics(server_->metrics_port());
  ASSERT_FALSE(metrics.empty());
  const std::string status_json = HttpGet(server_->metrics_port(), "/api/v1/models");
  ASSERT_NE(status_json.find("lorenz63"), std::string::npos) << status_json;
  // Refusals are counted, under their code and with no model label.
  EXPECT_EQ(MetricValue(metrics, R"(hybrid_requests_total{code="PERMISSION_DENIED",model="",rpc="Rollback"})"), 1.0)
      << metrics;
  EXPECT_EQ(MetricValue(metrics, R"(hybrid_requests_total{code="UNAUTHENTICATED",model="",rpc="ListModels"})"), 1.0);
  for (const char* token : {kReadToken, kCalibrateToken, kAdminToken}) {
    const std::string secret = std::string(token).substr(0, 12);
    EXPECT_EQ(denied.message().find(secret), std::string::npos);
    EXPECT_EQ(unknown.message().find(secret), std::string::npos);
    EXPECT_EQ(metrics.find(secret), std::string::npos) << token;
    EXPECT_EQ(status_json.find(secret), std::string::npos) << token;
  }
}

TEST_F(Security, TlsNeedsAClientThatTrustsTheServer) {
  Start(Tls(File("server.crt"), File("server.key")), /*tokens=*/false);
  EXPECT_TRUE(Client("", File("ca.crt"))->ListModels().ok());
  // A plaintext client, and one that trusts another CA, never get an answer.
  EXPECT_EQ(Client("")->ListModels().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Client("", File("rogue_ca.crt"))->ListModels().status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(Security, MutualTlsRefusesClientsWithoutAGoodCertificate) {
  Start(Tls(File("server.crt"), File("server.key"), File("ca.crt")), /*tokens=*/true);
  const std::string ca = File("ca.crt");
  EXPECT_EQ(Client(kReadToken, ca)->ListModels().status().code(), absl::StatusCode::kUnavailable);  // No cert.
  EXPECT_EQ(Client(kReadToken, ca, File("rogue_client.crt"), File("rogue_client.key"))->ListModels().status().code(),
            absl::StatusCode::kUnavailable);  // Signed by a CA the server does not trust.
  std::unique_ptr<client::HybridClient> good = Client(kReadToken, ca, File("client.crt"), File("client.key"));
  EXPECT_TRUE(good->ListModels().ok());
  // The certificate opens the connection; the token still decides the role.
  EXPECT_EQ(good->SaveCheckpoint("lorenz63").status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Client("", ca, File("client.crt"), File("client.key"))->ListModels().status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(Security, BadSecurityOptionsStopTheStartAndNameTheOption) {
  server::HybridServer::Options options;
  options.model_repository = std::string(HYBRID_SOURCE_DIR) + "/deploy/model_repository";
  options.state_dir = state_.path();
  options.grpc_address = "127.0.0.1:0";
  options.metrics_address = "127.0.0.1:0";
  auto start_error = [&](server::rpc::TlsFiles tls, std::string tokens) {
    options.tls = std::move(tls);
    options.auth_tokens_file = std::move(tokens);
    return server::HybridServer::Start(options).status();
  };
  absl::Status s = start_error(Tls(File("server.crt"), ""), "");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("tls_key"), std::string::npos) << s;
  s = start_error(Tls("", "", File("ca.crt")), "");
  EXPECT_NE(s.message().find("tls_client_ca needs tls_cert"), std::string::npos) << s;
  s = start_error(Tls(File("server.crt"), File("missing.key")), "");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("missing.key"), std::string::npos) << s;
  // A certificate whose key is another's: refused when the port is built.
  s = start_error(Tls(File("server.crt"), File("client.key")), "");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("tls_cert and tls_key"), std::string::npos) << s;
  s = start_error({}, File("missing-tokens"));
  EXPECT_NE(s.message().find("missing-tokens"), std::string::npos) << s;
  std::ofstream(File("weak-tokens")) << "dashboard read short\n";
  s = start_error({}, File("weak-tokens"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("weak-tokens:1: client 'dashboard'"), std::string::npos) << s;
}

}  // namespace
}  // namespace hybrid::testing
