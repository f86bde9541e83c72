// Stress: 16 Predict clients and 4 Calibrate streams (two per model) on two
// models of a real hybridserve process for HYBRID_STRESS_SECONDS (default 60)
// on loopback, one model with dynamic batching of Predict, one without. Every call must succeed; no answer may be torn
// — all Predict answers naming one (model, version) are bit-identical, versions never go back for a client, and each
// stream sees its versions strictly increase — and the server's resident memory must stay flat after warm-up.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/lorenz63_stream.h"
#include "tests/e2e/server_process.h"
#include "tests/scoped_temp_dir.h"

namespace hybrid::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kPredictClients = 16, kStreamsPerModel = 2;
const std::vector<std::string> kModels = {"alpha", "beta"};

// The stream's sensor noise (0.05) declared, as a user would: the guard then
// allows for it window by window (the ratio test that refused ~1% of such
// honest windows is off by default).
std::string Config(const std::string& name) {
  return "name: '" + name +
         "'\nphysics: PHYSICS_KIND_LORENZ63\n"
         "parameters { name: 'rho' initial: 20 trainable: true }\n"
         "correction { hidden: [16, 16] output_scale: 0.01 }\n"
         "ensemble_members: 5\nmember_jitter: 0.05\nseed: 7\n"
         "calibration { correction_penalty: 1.0 }\n"
         "uncertainty { observation_noise_std: 0.05 }\n"
         "durability { checkpoint_every: 200 }\n" +
         // alpha merges Predicts that wait together; its answers must stay bit-identical too.
         std::string(name == "alpha" ? "dynamic_batching {}\n" : "");
}

struct Seen {
  std::mutex mu;
  std::map<std::pair<std::string, uint64_t>, std::vector<double>> answers;  // First answer per version.
  std::atomic<int> torn{0}, errors{0}, predicts{0}, observations{0}, went_back{0}, guard_refusals{0};
  std::string first_error;

  void Error(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu);
    if (errors++ == 0) first_error = what;
  }
};

void PredictLoop(v1::HybridService::Stub& stub, const std::string& model, Clock::time_point end, Seen& seen) {
  v1::PredictRequest request;
  request.set_model(model);
  request.mutable_initial_state()->set_dtype(v1::DTYPE_FLOAT64);
  request.mutable_initial_state()->add_shape(3);
  for (double v : {1.0, 1.0, 20.0}) request.mutable_initial_state()->add_f64(v);
  request.mutable_horizon()->set_horizon(0.5);
  request.mutable_horizon()->set_step(0.1);
  request.add_interval_levels(0.9);
  uint64_t last_version = 0;
  while (Clock::now() < end) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::PredictResponse response;
    const grpc::Status s = stub.Predict(&context, request, &response);
    if (!s.ok()) {
      seen.Error("Predict: " + s.error_message());
      continue;
    }
    ++seen.predicts;
    if (response.model_version() < last_version) ++seen.went_back;
    last_version = response.model_version();
    std::vector<double> answer(response.mean().f64().begin(), response.mean().f64().end());
    answer.insert(answer.end(), response.std().f64().begin(), response.std().f64().end());
    for (const auto& interval : response.intervals()) {
      answer.insert(answer.end(), interval.lower().f64().begin(), interval.lower().f64().end());
      answer.insert(answer.end(), interval.upper().f64().begin(), interval.upper().f64().end());
    }
    std::lock_guard<std::mutex> lock(seen.mu);
    auto [it, inserted] = seen.answers.try_emplace({model, response.model_version()}, answer);
    if (!inserted && it->second != answer) ++seen.torn;
  }
}

void CalibrateLoop(v1::HybridService::Stub& stub, const std::vector<v1::CalibrateRequest>& data, size_t offset,
                   Clock::time_point end, Seen& seen) {
  grpc::ClientContext context;
  auto stream = stub.Calibrate(&context);
  uint64_t last_version = 0;
  for (size_t k = 0; Clock::now() < end; ++k) {
    v1::CalibrateRequest request = data[(offset + k) % data.size()];
    request.set_sequence(k + 1);
    v1::CalibrateResponse response;
    if (!stream->Write(request) || !stream->Read(&response)) {
      seen.Error("Calibrate stream broke");
      return;
    }
    // A window the divergence guard refuses is an answer about the data, not
    // a failure of the server: counted and reported. (After thousands of
    // updates Adam's steps swing ρ by ±0.3–1 at times, and the guard then
    // rightly refuses honest windows that the swung model misses — 1–3% of
    // them; a model that lost track widens its error model and comes back,
    // forecast_error_model.h.)
    if (response.status().code() == grpc::StatusCode::FAILED_PRECONDITION &&
        response.status().message().find("divergence guard") != std::string::npos) {
      ++seen.guard_refusals;
      continue;
    }
    if (response.status().code() != 0) {
      seen.Error("Calibrate: " + response.status().message());
      continue;
    }
    ++seen.observations;
    if (response.model_version() <= last_version) ++seen.went_back;
    last_version = response.model_version();
  }
  stream->WritesDone();
  const grpc::Status s = stream->Finish();
  if (!s.ok()) seen.Error("Calibrate finish: " + s.error_message());
}

TEST(Stress, PredictAndCalibrateConcurrentlyWithoutErrorsTornReadsOrGrowth) {
  const char* env = std::getenv("HYBRID_STRESS_SECONDS");
  const int seconds = env != nullptr ? std::atoi(env) : 60;
  ScopedTempDir repository, state, work;
  for (const std::string& m : kModels) {
    fs::create_directories(repository.File(m));
    std::ofstream(repository.File(m) + "/config.pbtxt") << Config(m);
  }
  ServerProcess server(repository.path(), state.path(), work.path());
  std::map<std::string, std::vector<v1::CalibrateRequest>> data;
  // Sensor noise as in the demo: clean data fitted to 1e-9 makes any window a "spike".
  // Fresh windows for every stream for the whole run, as sensors send.
  constexpr size_t kObservationsPerStream = 8000;
  for (const std::string& m : kModels) {
    data[m] = Lorenz63Observations(m, kStreamsPerModel * kObservationsPerStream, /*noise=*/0.05);
  }

  Seen seen;
  const Clock::time_point start = Clock::now(), end = start + std::chrono::seconds(seconds);
  std::vector<std::thread> clients;
  for (int i = 0; i < kPredictClients; ++i) {
    clients.emplace_back([&, i] { PredictLoop(server.stub(), kModels[i % kModels.size()], end, seen); });
  }
  for (const std::string& m : kModels) {
    for (int j = 0; j < kStreamsPerModel; ++j) {
      clients.emplace_back([&, m, j] { CalibrateLoop(server.stub(), data[m], j * kObservationsPerStream, end, seen); });
    }
  }
  // Resident memory every second; "warm" is the median of the second quarter.
  std::vector<long> rss;
  while (Clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    rss.push_back(server.ResidentKib());
  }
  for (std::thread& c : clients) c.join();

  ASSERT_GE(rss.size(), 4u);
  std::vector<long> warm(rss.begin() + static_cast<long>(rss.size() / 4),
                         rss.begin() + static_cast<long>(rss.size() / 2));
  std::sort(warm.begin(), warm.end());
  const long warm_kib = warm[warm.size() / 2];
  const long last_kib = *std::max_element(rss.end() - static_cast<long>(rss.size() / 4), rss.end());
  std::printf(
      "%d s: %d predictions, %d observations (%d refused by the guard), %zu (model, version) pairs; RSS warm %ld MiB, "
      "end %ld MiB\n",
      seconds, seen.predicts.load(), seen.observations.load(), seen.guard_refusals.load(), seen.answers.size(),
      warm_kib / 1024, last_kib / 1024);
  EXPECT_EQ(seen.errors.load(), 0) << seen.first_error;
  EXPECT_EQ(seen.torn.load(), 0);
  EXPECT_EQ(seen.went_back.load(), 0);
  EXPECT_GT(seen.predicts.load(), kPredictClients);
  EXPECT_GT(seen.observations.load(), 4);
  EXPECT_LT(seen.guard_refusals.load(), seen.observations.load()) << "the guard refused most honest windows";
  EXPECT_GT(seen.answers.size(), 2u * kModels.size());  // Predicts saw versions change.
  // Flat: within 10% + 16 MiB of the warmed-up level (allocator noise).
  EXPECT_LT(last_kib, warm_kib + warm_kib / 10 + 16 * 1024) << "resident memory grew";
}

}  // namespace
}  // namespace hybrid::testing
