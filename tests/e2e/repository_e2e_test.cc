// The model repository over the wire: every shipped model loads, forecasts and
// calibrates; a broken model is FAILED with its reason while the others serve;
// LoadModel / UnloadModel / SaveCheckpoint / Rollback behave as documented
// (versions only grow, a rollback survives unload + load); and the stream and
// message limits answer RESOURCE_EXHAUSTED / INVALID_ARGUMENT by name.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "hybrid/v1/hybrid_service.grpc.pb.h"
#include "tests/e2e/lorenz63_stream.h"
#include "tests/e2e/test_server.h"

namespace hybrid::testing {
namespace {

namespace fs = std::filesystem;

const std::string kShipped = std::string(HYBRID_SOURCE_DIR) + "/deploy/model_repository";

std::unique_ptr<v1::HybridService::Stub> Stub(const TestServer& t) {
  return v1::HybridService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(t.server->grpc_port()), grpc::InsecureChannelCredentials()));
}

v1::Tensor State(const std::vector<double>& x) {
  v1::Tensor t;
  t.set_dtype(v1::DTYPE_FLOAT64);
  t.add_shape(static_cast<int64_t>(x.size()));
  t.mutable_f64()->Add(x.begin(), x.end());
  return t;
}

grpc::Status Predict(v1::HybridService::Stub& stub, const std::string& model, const std::vector<double>& x,
                     double horizon, double step, v1::PredictResponse* response) {
  grpc::ClientContext context;
  v1::PredictRequest request;
  request.set_model(model);
  *request.mutable_initial_state() = State(x);
  request.mutable_horizon()->set_horizon(horizon);
  request.mutable_horizon()->set_step(step);
  request.set_max_step(step);
  return stub.Predict(&context, request, response);
}

// Sends `requests` on one stream, returns the answers and the stream's status.
std::pair<std::vector<v1::CalibrateResponse>, grpc::Status> Calibrate(
    v1::HybridService::Stub& stub, const std::vector<v1::CalibrateRequest>& requests) {
  grpc::ClientContext context;
  auto stream = stub.Calibrate(&context);
  std::vector<v1::CalibrateResponse> answers;
  for (const v1::CalibrateRequest& r : requests) {
    if (!stream->Write(r)) break;
    v1::CalibrateResponse response;
    if (!stream->Read(&response)) break;
    answers.push_back(response);
  }
  stream->WritesDone();
  return {answers, stream->Finish()};
}

v1::GetModelResponse GetModel(v1::HybridService::Stub& stub, const std::string& model, grpc::Status* status) {
  grpc::ClientContext context;
  v1::GetModelRequest request;
  request.set_model(model);
  v1::GetModelResponse response;
  *status = stub.GetModel(&context, request, &response);
  return response;
}

double Parameter(const v1::GetModelResponse& m, const std::string& name) {
  for (const auto& p : m.parameters()) {
    if (p.name() == name) return p.value();
  }
  ADD_FAILURE() << "no parameter " << name;
  return NAN;
}

std::map<std::string, v1::ModelSummary> List(v1::HybridService::Stub& stub) {
  grpc::ClientContext context;
  v1::ListModelsResponse response;
  EXPECT_TRUE(stub.ListModels(&context, {}, &response).ok());
  std::map<std::string, v1::ModelSummary> out;
  for (const auto& m : response.models()) out[m.name()] = m;
  return out;
}

TEST(Repository, EveryShippedModelLoadsForecastsAndCalibratesOnItsOwnForecast) {
  TestServer t = StartTestServer();
  auto stub = Stub(t);
  // A plausible state of each model's physics.
  const std::map<std::string, std::vector<double>> states = {
      {"lorenz63", {1.0, 1.0, 20.0}},
      {"lorenz96", std::vector<double>(40, 8.0)},
      {"fitzhugh_nagumo", std::vector<double>(512, 0.1)},
      {"pkpd", {100.0, 0.0, 0.0, 0.0, 100.0}},
  };
  const auto listed = List(*stub);
  for (auto [name, x] : states) {
    SCOPED_TRACE(name);
    ASSERT_EQ(listed.count(name), 1u);
    EXPECT_EQ(listed.at(name).state(), v1::MODEL_STATE_READY) << listed.at(name).reason();
    if (name == "lorenz96") x[3] += 0.1;  // Off the fixed point.
    v1::PredictResponse forecast;
    const grpc::Status s = Predict(*stub, name, x, 0.05, 0.01, &forecast);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(forecast.times_size(), 5);
    const int dim = static_cast<int>(x.size());
    std::vector<double> end(forecast.mean().f64().end() - dim, forecast.mean().f64().end());
    for (double v : end) ASSERT_TRUE(std::isfinite(v));

    v1::CalibrateRequest observation;
    observation.set_model(name);
    observation.set_sequence(1);
    *observation.mutable_start_state() = State(x);
    *observation.mutable_end_state() = State(end);
    observation.set_step(0.01);
    observation.set_steps(5);
    auto [answers, status] = Calibrate(*stub, {observation});
    EXPECT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(answers[0].status().code(), 0) << answers[0].status().message();
    EXPECT_EQ(answers[0].model_version(), 1u);
  }
}

TEST(Repository, ABrokenModelIsFailedWithItsReasonAndTheOthersServe) {
  ScopedTempDir repository;
  fs::copy(kShipped + "/lorenz63", repository.File("lorenz63"), fs::copy_options::recursive);
  fs::create_directories(repository.File("broken"));
  std::ofstream(repository.File("broken/config.pbtxt")) << "name: 'broken'\nphysics: PHYSICS_KIND_LORENZ63\n"
                                                           "ensemble_members: 0.5\n";
  TestServer t = StartTestServer(repository.path());
  auto stub = Stub(t);
  const auto listed = List(*stub);
  EXPECT_EQ(listed.at("lorenz63").state(), v1::MODEL_STATE_READY);
  EXPECT_EQ(listed.at("broken").state(), v1::MODEL_STATE_FAILED);
  EXPECT_NE(listed.at("broken").reason().find("broken/config.pbtxt"), std::string::npos)
      << listed.at("broken").reason();
  EXPECT_NE(listed.at("broken").reason().find("ensemble_members"), std::string::npos) << listed.at("broken").reason();
  grpc::Status s;
  GetModel(*stub, "broken", &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(s.error_message().find("FAILED"), std::string::npos) << s.error_message();
  v1::PredictResponse forecast;
  EXPECT_TRUE(Predict(*stub, "lorenz63", {1, 1, 20}, 0.1, 0.01, &forecast).ok());
}

TEST(Repository, LoadUnloadCheckpointAndRollBack) {
  ScopedTempDir repository, state;
  fs::copy(kShipped + "/lorenz63", repository.File("lorenz63"), fs::copy_options::recursive);
  server::HybridServer::Options options;
  options.model_repository = repository.path();
  options.state_dir = state.path();
  options.grpc_address = options.metrics_address = "127.0.0.1:0";
  options.load_all_models = false;
  auto server = server::HybridServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::HybridService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->grpc_port()), grpc::InsecureChannelCredentials()));
  auto call = [&](auto method, const auto& request, auto* response) {
    grpc::ClientContext context;
    return ((*stub).*method)(&context, request, response);
  };
  v1::LoadModelRequest load;
  load.set_model("lorenz63");
  v1::UnloadModelRequest unload;
  unload.set_model("lorenz63");
  v1::LoadModelResponse loaded;
  v1::UnloadModelResponse unloaded;
  v1::PredictResponse forecast;

  EXPECT_EQ(List(*stub).at("lorenz63").state(), v1::MODEL_STATE_UNLOADED);
  EXPECT_EQ(Predict(*stub, "lorenz63", {1, 1, 20}, 0.1, 0.01, &forecast).error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(call(&v1::HybridService::Stub::LoadModel, load, &loaded).ok());
  EXPECT_EQ(loaded.version(), 0u);
  EXPECT_EQ(call(&v1::HybridService::Stub::LoadModel, load, &loaded).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  v1::LoadModelRequest missing;
  missing.set_model("nope");
  EXPECT_EQ(call(&v1::HybridService::Stub::LoadModel, missing, &loaded).error_code(), grpc::StatusCode::NOT_FOUND);

  const std::vector<v1::CalibrateRequest> all = Lorenz63Observations("lorenz63", 10);
  auto [first, s1] = Calibrate(*stub, {all.begin(), all.begin() + 5});
  ASSERT_TRUE(s1.ok()) << s1.error_message();
  ASSERT_EQ(first.back().model_version(), 5u);
  double rho_at_5 = 0;
  for (const auto& p : first.back().parameters()) {
    if (p.name() == "rho") rho_at_5 = p.value();
  }
  v1::SaveCheckpointRequest save;
  save.set_model("lorenz63");
  v1::SaveCheckpointResponse saved;
  ASSERT_TRUE(call(&v1::HybridService::Stub::SaveCheckpoint, save, &saved).ok());
  EXPECT_EQ(saved.version(), 5u);
  auto [second, s2] = Calibrate(*stub, {all.begin() + 5, all.end()});
  ASSERT_TRUE(s2.ok());
  grpc::Status status;
  EXPECT_NE(Parameter(GetModel(*stub, "lorenz63", &status), "rho"), rho_at_5);
  const v1::GetModelResponse before = GetModel(*stub, "lorenz63", &status);
  EXPECT_EQ(before.version(), 10u);
  ASSERT_EQ(before.state_components_size(), 3);  // The state's names and units, over the wire.
  EXPECT_EQ(before.state_components(2).name(), "z");
  EXPECT_EQ(before.state_components(2).unit(), "1");
  ASSERT_FALSE(before.durability().checkpoint_versions().empty());
  EXPECT_EQ(before.durability().last_logged(), 10u);

  v1::RollbackRequest rollback;
  rollback.set_model("lorenz63");
  rollback.set_version(999);
  v1::RollbackResponse rolled;
  const grpc::Status unknown = call(&v1::HybridService::Stub::Rollback, rollback, &rolled);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(unknown.error_message().find("5"), std::string::npos) << unknown.error_message();  // Lists what is kept.
  rollback.set_version(5);
  ASSERT_TRUE(call(&v1::HybridService::Stub::Rollback, rollback, &rolled).ok());
  EXPECT_EQ(rolled.version(), 11u);  // A new version with the old state.
  EXPECT_EQ(Parameter(GetModel(*stub, "lorenz63", &status), "rho"), rho_at_5);
  ASSERT_TRUE(Predict(*stub, "lorenz63", {1, 1, 20}, 0.1, 0.01, &forecast).ok());
  EXPECT_EQ(forecast.model_version(), 11u);

  ASSERT_TRUE(call(&v1::HybridService::Stub::UnloadModel, unload, &unloaded).ok());
  EXPECT_EQ(Predict(*stub, "lorenz63", {1, 1, 20}, 0.1, 0.01, &forecast).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(call(&v1::HybridService::Stub::UnloadModel, unload, &unloaded).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(call(&v1::HybridService::Stub::LoadModel, load, &loaded).ok());
  EXPECT_EQ(loaded.version(), 11u);  // Resumed where it was: the rollback was durable.
  EXPECT_EQ(Parameter(GetModel(*stub, "lorenz63", &status), "rho"), rho_at_5);
}

TEST(Repository, StreamAndMessageLimitsAreEnforcedByName) {
  ScopedTempDir repository;
  fs::create_directories(repository.File("one"));
  std::ofstream(repository.File("one/config.pbtxt"))
      << "name: 'one'\nphysics: PHYSICS_KIND_LORENZ63\nensemble_members: 2\nlimits { max_calibrate_streams: 1 }\n";
  TestServer t = StartTestServer(repository.path());
  auto stub = Stub(t);
  const std::vector<v1::CalibrateRequest> all = Lorenz63Observations("one", 3);

  // The first stream holds the model's only slot; a second is refused whole.
  grpc::ClientContext first_context;
  auto first = stub->Calibrate(&first_context);
  ASSERT_TRUE(first->Write(all[0]));
  v1::CalibrateResponse answer;
  ASSERT_TRUE(first->Read(&answer));
  EXPECT_EQ(answer.status().code(), 0);
  auto [refused, refused_status] = Calibrate(*stub, {all[1]});
  EXPECT_EQ(refused_status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused_status.error_message().find("max_calibrate_streams"), std::string::npos);

  // In the first stream: a repeated sequence number is refused in-stream, the stream goes on.
  v1::CalibrateRequest repeated = all[1];
  repeated.set_sequence(1);
  ASSERT_TRUE(first->Write(repeated));
  ASSERT_TRUE(first->Read(&answer));
  EXPECT_EQ(answer.status().code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_NE(answer.status().message().find("sequence"), std::string::npos) << answer.status().message();
  ASSERT_TRUE(first->Write(all[2]));
  ASSERT_TRUE(first->Read(&answer));
  EXPECT_EQ(answer.status().code(), 0) << answer.status().message();
  first->WritesDone();
  EXPECT_TRUE(first->Finish().ok());

  // The slot is free again; an empty stream is refused.
  auto [empty_answers, empty_status] = Calibrate(*stub, {});
  EXPECT_EQ(empty_status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(empty_status.error_message().find("no observation"), std::string::npos);

  // A request beyond --max_message_bytes (16 MiB by default) is refused by gRPC itself.
  v1::PredictResponse forecast;
  const grpc::Status huge = Predict(*stub, "one", std::vector<double>(3 << 20, 1.0), 0.1, 0.01, &forecast);
  EXPECT_EQ(huge.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << huge.error_message();
}

}  // namespace
}  // namespace hybrid::testing
