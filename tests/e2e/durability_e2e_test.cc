// Nothing acknowledged is lost: a real hybridserve process is killed with
// SIGKILL in the middle of a Calibrate stream, at several points (early in the
// stream, between checkpoints with many observations in flight, with none in
// flight, after a torn write), and restarted on the same state folder.
// It must have logged every observation it acknowledged, and its parameters
// and forecasts must equal (1e-12) those of an uninterrupted server fed exactly
// the observations it logged — and keep equalling them as both go on.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "hybrid/v1/hybrid_service.grpc.pb.h"
#include "tests/e2e/lorenz63_stream.h"
#include "tests/e2e/server_process.h"
#include "tests/scoped_temp_dir.h"

namespace hybrid {
namespace {

namespace fs = std::filesystem;
using testing::ScopedTempDir;
using testing::ServerProcess;

constexpr char kModel[] = "l63d";
constexpr char kConfig[] = R"(
name: "l63d"
physics: PHYSICS_KIND_LORENZ63
parameters { name: "rho" initial: 20 trainable: true }
correction { hidden: [8] output_scale: 0.01 }
ensemble_members: 3
member_jitter: 0.05
seed: 7
calibration { learning_rate_theta: 0.05 learning_rate_phi: 0.001 correction_penalty: 1.0
              replay_capacity: 16 replay_batch: 2 }
durability { checkpoint_every: 7 keep_checkpoints: 3 }
)";
constexpr int kObservations = 48, kContinued = 8;

// Streams observations [from, to); kills the server after `kill_after`
// answers (−1: never). `pipelined`: all are written at once, otherwise each
// waits for its answer. Returns the number of answers received.
int Stream(ServerProcess& server, const std::vector<v1::CalibrateRequest>& all, int from, int to, int kill_after,
           bool pipelined) {
  grpc::ClientContext context;
  auto stream = server.stub().Calibrate(&context);
  std::thread writer;
  if (pipelined) {
    writer = std::thread([&] {
      for (int k = from; k < to && stream->Write(all[k]); ++k) {
      }
      stream->WritesDone();
    });
  }
  int answered = 0;
  v1::CalibrateResponse response;
  for (int k = from; k < to; ++k) {
    if (!pipelined && !stream->Write(all[k])) break;
    if (!stream->Read(&response)) break;
    EXPECT_EQ(response.sequence(), all[k].sequence());
    ++answered;
    if (answered == kill_after) {
      server.Kill(SIGKILL);
      break;
    }
  }
  if (!pipelined && kill_after < 0) stream->WritesDone();
  if (kill_after < 0) {
    EXPECT_TRUE(stream->Finish().ok());
  }
  if (writer.joinable()) writer.join();
  return answered;
}

v1::GetModelResponse GetModel(ServerProcess& server) {
  grpc::ClientContext context;
  v1::GetModelRequest request;
  request.set_model(kModel);
  v1::GetModelResponse response;
  const grpc::Status s = server.stub().GetModel(&context, request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return response;
}

std::vector<double> Forecast(ServerProcess& server) {
  grpc::ClientContext context;
  v1::PredictRequest request;
  request.set_model(kModel);
  request.mutable_initial_state()->set_dtype(v1::DTYPE_FLOAT64);
  request.mutable_initial_state()->add_shape(3);
  for (double v : {1.0, 1.0, 20.0}) request.mutable_initial_state()->add_f64(v);
  request.mutable_horizon()->set_horizon(0.5);
  request.mutable_horizon()->set_step(0.1);
  v1::PredictResponse response;
  const grpc::Status s = server.stub().Predict(&context, request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  std::vector<double> out(response.mean().f64().begin(), response.mean().f64().end());
  out.insert(out.end(), response.std().f64().begin(), response.std().f64().end());
  return out;
}

void ExpectSameModel(ServerProcess& a, ServerProcess& b) {
  const v1::GetModelResponse x = GetModel(a), y = GetModel(b);
  EXPECT_EQ(x.version(), y.version());
  ASSERT_EQ(x.parameters_size(), y.parameters_size());
  for (int i = 0; i < x.parameters_size(); ++i) {
    EXPECT_NEAR(x.parameters(i).value(), y.parameters(i).value(), 1e-12) << x.parameters(i).name();
    EXPECT_NEAR(x.parameters(i).std(), y.parameters(i).std(), 1e-12) << x.parameters(i).name();
  }
  const std::vector<double> p = Forecast(a), q = Forecast(b);
  ASSERT_EQ(p.size(), q.size());
  ASSERT_FALSE(p.empty());
  for (size_t i = 0; i < p.size(); ++i) EXPECT_NEAR(p[i], q[i], 1e-12) << i;
}

struct KillPoint {
  int kill_after;
  bool pipelined;
  bool torn_tail;  // Also leave half a record at the end of the log, as a crash mid-write would.
};

class KillAndRestart : public ::testing::TestWithParam<KillPoint> {};

TEST_P(KillAndRestart, TheRestartedServerHasEveryAcknowledgedObservationAndNothingElse) {
  const KillPoint point = GetParam();
  ScopedTempDir repository, state, reference_state, work;
  fs::create_directories(repository.File(kModel));
  std::ofstream(repository.File(kModel) + "/config.pbtxt") << kConfig;
  const std::vector<v1::CalibrateRequest> all = testing::Lorenz63Observations(kModel, kObservations + kContinued);

  int acknowledged = 0;
  {
    ServerProcess crashing(repository.path(), state.path(), work.path());
    acknowledged = Stream(crashing, all, 0, kObservations, point.kill_after, point.pipelined);
  }
  ASSERT_EQ(acknowledged, point.kill_after);
  if (point.torn_tail) {
    std::vector<fs::path> segments;
    for (const auto& e : fs::directory_iterator(state.File(kModel) + "/wal")) {
      if (e.path().extension() == ".wal") segments.push_back(e.path());
    }
    std::sort(segments.begin(), segments.end());
    ASSERT_FALSE(segments.empty());
    std::ofstream(segments.back(), std::ios::app | std::ios::binary) << std::string("\x40\x00\x00\x00\x12\x34", 6);
  }

  ServerProcess restarted(repository.path(), state.path(), work.path());
  const v1::GetModelResponse recovered = GetModel(restarted);
  const int logged = static_cast<int>(recovered.durability().last_logged());
  EXPECT_GE(logged, acknowledged) << "an acknowledged observation was lost";
  EXPECT_LE(logged, kObservations);
  std::printf("killed after %d answers; the restarted server logged %d, re-applied %lld, checkpoints kept %d\n",
              acknowledged, logged, static_cast<long long>(recovered.durability().replayed_at_start()),
              recovered.durability().checkpoint_versions_size());
  if (!point.pipelined) {
    EXPECT_EQ(logged, acknowledged);  // Nothing was in flight.
  }
  EXPECT_GT(recovered.durability().checkpoint_versions_size() + recovered.durability().replayed_at_start(), 0);

  ServerProcess reference(repository.path(), reference_state.path(), work.path());
  ASSERT_EQ(Stream(reference, all, 0, logged, -1, /*pipelined=*/false), logged);
  ExpectSameModel(restarted, reference);

  // Both go on from there identically: optimizer moments, replay buffer and
  // random engines were restored too, not just the parameters.
  // (`all` holds kContinued more than the crashing stream sent, so something
  // is left even when the server logged all it was sent before the kill.)
  const int total = kObservations + kContinued;
  ASSERT_EQ(Stream(restarted, all, logged, total, -1, true), total - logged);
  ASSERT_EQ(Stream(reference, all, logged, total, -1, true), total - logged);
  ExpectSameModel(restarted, reference);
}

INSTANTIATE_TEST_SUITE_P(KillPoints, KillAndRestart,
                         // Checkpoints fall after records 1 (a model's first is due at once), 8, 15, 22, 29.
                         ::testing::Values(KillPoint{3, true, false},    // Early: little besides the first.
                                           KillPoint{17, true, false},   // Between checkpoints, many in flight.
                                           KillPoint{21, false, false},  // Six records past one, none in flight.
                                           KillPoint{30, true, true}));  // A torn record at the log's end.

}  // namespace
}  // namespace hybrid
