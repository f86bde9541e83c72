// hybridload: Predict latency under concurrent load, as JSON.
//
//   hybridload --target=127.0.0.1:50051 --model=lorenz63 --requests=2000 --concurrency=4
//
// Runs `requests` Predict calls (horizon/step as flagged, from states spread
// over the Lorenz attractor's range) from `concurrency` threads, then the same
// number of ListModels calls — a baseline RPC with no model work, measured in
// the same run on the same connection — and prints p50/p90/p99/max in
// milliseconds for both, their ratio, and the throughput. Bounded in count;
// talks only to --target (loopback in tests).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "client/connection_flags.h"
#include "client/hybrid_client.h"

ABSL_FLAG(std::string, model, "lorenz63", "model to query (3-dimensional state)");
ABSL_FLAG(int, requests, 1000, "calls per measured RPC");
ABSL_FLAG(int, concurrency, 2, "client threads");
ABSL_FLAG(double, horizon, 1.0, "Predict horizon");
ABSL_FLAG(double, step, 0.1, "Predict output spacing");
ABSL_FLAG(int, ensemble_size, 0, "Predict members (0: all of the model's)");

namespace {

using Clock = std::chrono::steady_clock;

struct Latencies {
  std::vector<double> ms;
  int errors = 0;
  double wall_s = 0;
  double Quantile(double q) const {
    if (ms.empty()) return 0;
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * static_cast<double>(ms.size())))];
  }
};

template <typename Call>
Latencies Measure(int requests, int concurrency, Call call) {
  Latencies out;
  absl::Mutex mu;
  std::atomic<int> next{0};
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < requests; i = next++) {
        const Clock::time_point begin = Clock::now();
        const bool ok = call(i);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - begin).count();
        absl::MutexLock lock(&mu);
        out.ms.push_back(ms);
        out.errors += ok ? 0 : 1;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  out.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(out.ms.begin(), out.ms.end());
  return out;
}

void Print(const char* name, const Latencies& l, bool comma) {
  std::printf(
      "  \"%s\": {\"p50_ms\": %.4f, \"p90_ms\": %.4f, \"p99_ms\": %.4f, \"max_ms\": %.4f, "
      "\"errors\": %d, \"per_second\": %.1f}%s\n",
      name, l.Quantile(0.5), l.Quantile(0.9), l.Quantile(0.99), l.ms.empty() ? 0.0 : l.ms.back(), l.errors,
      static_cast<double>(l.ms.size()) / l.wall_s, comma ? "," : "");
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int requests = absl::GetFlag(FLAGS_requests), concurrency = absl::GetFlag(FLAGS_concurrency);
  if (requests < 1 || concurrency < 1) {
    std::fprintf(stderr, "hybridload: --requests and --concurrency must be ≥ 1\n");
    return 2;
  }
  absl::StatusOr<hybrid::client::ClientOptions> options = hybrid::client::ClientOptionsFromFlags();
  if (!options.ok()) {
    std::fprintf(stderr, "hybridload: %s\n", options.status().ToString().c_str());
    return 2;
  }
  std::unique_ptr<hybrid::client::HybridClient> client = hybrid::client::HybridClient::Connect(*options).value();
  if (absl::Status s = client->ListModels().status(); !s.ok()) {  // Connect and warm up.
    std::fprintf(stderr, "hybridload: %s\n", s.ToString().c_str());
    return 1;
  }

  auto predict = [&](int i) {
    hybrid::v1::PredictRequest r;
    r.set_model(absl::GetFlag(FLAGS_model));
    hybrid::v1::Tensor* x0 = r.mutable_initial_state();
    x0->add_shape(3);
    x0->set_dtype(hybrid::v1::DTYPE_FLOAT64);
    const double phase = 0.1 * (i % 97);
    x0->add_f64(10 * std::sin(phase));
    x0->add_f64(10 * std::cos(phase));
    x0->add_f64(25 + 5 * std::sin(2 * phase));
    r.mutable_horizon()->set_horizon(absl::GetFlag(FLAGS_horizon));
    r.mutable_horizon()->set_step(absl::GetFlag(FLAGS_step));
    r.set_ensemble_size(absl::GetFlag(FLAGS_ensemble_size));
    r.add_interval_levels(0.9);
    return client->Predict(r).ok();
  };
  auto list = [&](int) { return client->ListModels().ok(); };

  const Latencies predict_latency = Measure(requests, concurrency, predict);
  const Latencies baseline = Measure(requests, concurrency, list);
  std::printf("{\n  \"model\": \"%s\", \"requests\": %d, \"concurrency\": %d, \"horizon\": %g, \"step\": %g,\n",
              absl::GetFlag(FLAGS_model).c_str(), requests, concurrency, absl::GetFlag(FLAGS_horizon),
              absl::GetFlag(FLAGS_step));
  Print("predict", predict_latency, true);
  Print("baseline_list_models", baseline, true);
  std::printf("  \"predict_over_baseline_p50\": %.2f\n}\n",
              baseline.Quantile(0.5) > 0 ? predict_latency.Quantile(0.5) / baseline.Quantile(0.5) : 0.0);
  return predict_latency.errors + baseline.errors == 0 ? 0 : 1;
}
