// hybridload: load on a running hybridserve — N Predict clients and M
// Calibrate streams for a fixed duration — reported as JSON on stdout.
//
//   hybridload --target=127.0.0.1:50051 --model=lorenz63 --duration=10
//              --predict_clients=8 --calibrate_streams=1 [--ensemble_size=1] [--record=last.json]
//
// Predict clients each run one call after another (closed loop) from states
// spread over the Lorenz attractor. Calibrate streams each send simulated
// Lorenz-63 observations (plain C++ RK4, client/observation_windows.h) with
// up to --in_flight answers outstanding, so the model's calibration worker is
// kept busy; an observation's latency runs from its write to its answer.
// After the load, ListModels — an RPC with no model work — runs from the same
// number of clients for --baseline_seconds on the same connection: the
// baseline that Predict's latency is compared with (a ratio, not a time).
// With --plain_floor, the same forecast in plain C++ (no LibTorch, no gRPC)
// is timed in this process before the load, while the server idles:
// "predict_over_floor_p50" = Predict p50 / (ListModels p50 + its p50).
//
// The JSON has, per section (predict, calibrate, baseline_list_models):
// count, errors, rejected (observations the model declined in-stream),
// per_second, p50/p95/p99/max in ms. With --record=FILE the
// previous run saved there is compared with this one (throughput and p99
// ratios, printed on stderr and added to the JSON as "vs_last_run", when the
// two runs had the same settings), then FILE holds this run.
//
// Exit status: 0, 1 when any call failed or the server could not be reached,
// 2 on bad flags. Talks only to --target.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "base/command_line.h"
#include "client/connection_flags.h"
#include "client/hybrid_client.h"
#include "client/observation_windows.h"
#include "loadtest/plain_forecast.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, model, "lorenz63", "model under load (3-dimensional state: a Lorenz-63 model)");
ABSL_FLAG(double, duration, 10.0, "seconds of load");
ABSL_FLAG(int, predict_clients, 2, "concurrent Predict clients (0: none)");
ABSL_FLAG(int, calibrate_streams, 0, "concurrent Calibrate streams (0: none)");
ABSL_FLAG(int, in_flight, 8, "Calibrate: observations a stream may have unanswered");
ABSL_FLAG(int, windows_per_observation, 8, "Calibrate: windows of 10 RK4 steps in one observation");
ABSL_FLAG(double, horizon, 1.0, "Predict horizon");
ABSL_FLAG(double, step, 0.1, "Predict output spacing");
ABSL_FLAG(int, ensemble_size, 0, "Predict members (0: all of the model's)");
ABSL_FLAG(double, baseline_seconds, 2.0, "seconds of the ListModels baseline (0: none)");
ABSL_FLAG(bool, plain_floor, false,
          "before the load, time the default model's Predict written out in plain C++ (loadtest/plain_forecast.h): "
          "the floor that Predict's p50 is compared with, with ListModels'");
ABSL_FLAG(std::string, record, "", "JSON file: compare with the run saved there, then save this run");

namespace {

using Clock = std::chrono::steady_clock;
using hybrid::client::HybridClient;
using nlohmann::json;
namespace v1 = hybrid::v1;

// Latencies of one kind of call, merged from every thread.
class Section {
 public:
  void Add(double ms, bool ok) {
    std::lock_guard<std::mutex> lock(mu_);
    ms_.push_back(ms);
    errors_ += ok ? 0 : 1;
  }
  // An observation the model declined (answered in-stream, e.g. by its
  // divergence guard): a measured answer, not a failure of the server.
  void AddRejected(double ms) {
    std::lock_guard<std::mutex> lock(mu_);
    ms_.push_back(ms);
    ++rejected_;
  }
  void AddError() {
    std::lock_guard<std::mutex> lock(mu_);
    ++errors_;
  }
  json Summary(double seconds) {
    std::lock_guard<std::mutex> lock(mu_);
    std::sort(ms_.begin(), ms_.end());
    auto quantile = [&](double q) {
      return ms_.empty() ? 0.0
                         : ms_[std::min(ms_.size() - 1, static_cast<size_t>(q * static_cast<double>(ms_.size())))];
    };
    return {{"count", ms_.size()},      {"errors", errors_},
            {"rejected", rejected_},    {"per_second", seconds > 0 ? static_cast<double>(ms_.size()) / seconds : 0.0},
            {"p50_ms", quantile(0.5)},  {"p95_ms", quantile(0.95)},
            {"p99_ms", quantile(0.99)}, {"max_ms", ms_.empty() ? 0.0 : ms_.back()}};
  }

 private:
  std::mutex mu_;
  std::vector<double> ms_;
  int64_t errors_ = 0;
  int64_t rejected_ = 0;
};

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

v1::PredictRequest PredictRequestNumber(int i) {
  v1::PredictRequest r;
  r.set_model(absl::GetFlag(FLAGS_model));
  v1::Tensor* x0 = r.mutable_initial_state();
  x0->add_shape(3);
  x0->set_dtype(v1::DTYPE_FLOAT64);
  const double phase = 0.1 * (i % 97);
  x0->add_f64(10 * std::sin(phase));
  x0->add_f64(10 * std::cos(phase));
  x0->add_f64(25 + 5 * std::sin(2 * phase));
  r.mutable_horizon()->set_horizon(absl::GetFlag(FLAGS_horizon));
  r.mutable_horizon()->set_step(absl::GetFlag(FLAGS_step));
  r.set_ensemble_size(absl::GetFlag(FLAGS_ensemble_size));
  r.add_interval_levels(0.9);
  return r;
}

// `threads` closed loops of `call` until `until`.
template <typename Call>
void RunClosedLoops(int threads, Clock::time_point until, Section& section, Call call) {
  std::vector<std::thread> pool;
  std::atomic<int> next{0};
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      while (Clock::now() < until) {
        const Clock::time_point begin = Clock::now();
        const bool ok = call(next++);
        section.Add(MsSince(begin), ok);
      }
    });
  }
  for (std::thread& t : pool) t.join();
}

// The observations one stream sends, cycling: `per_observation` windows each.
std::vector<v1::CalibrateRequest> Observations(const hybrid::client::WindowSet& set, int per_observation) {
  std::vector<v1::CalibrateRequest> out;
  for (size_t first = 0; first + per_observation <= set.windows.size(); first += per_observation) {
    v1::CalibrateRequest r;
    r.set_model(absl::GetFlag(FLAGS_model));
    r.set_step(set.step);
    r.set_steps(set.steps);
    for (v1::Tensor* t : {r.mutable_start_state(), r.mutable_end_state()}) {
      t->set_dtype(v1::DTYPE_FLOAT64);
      t->add_shape(per_observation);
      t->add_shape(set.dim);
    }
    for (int w = 0; w < per_observation; ++w) {
      for (double v : set.windows[first + w].start) r.mutable_start_state()->add_f64(v);
      for (double v : set.windows[first + w].end) r.mutable_end_state()->add_f64(v);
    }
    out.push_back(std::move(r));
  }
  return out;
}

// One Calibrate stream until `until`: a writer keeps up to `in_flight`
// observations unanswered; this thread reads the answers (they come in order).
void RunCalibrateStream(HybridClient& client, const std::vector<v1::CalibrateRequest>& observations, int in_flight,
                        Clock::time_point until, Section& section) {
  std::unique_ptr<hybrid::client::CalibrateStream> stream =
      client.OpenCalibrate(absl::Seconds(absl::GetFlag(FLAGS_duration) + 120));
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Clock::time_point> sent;  // Write time of observation k.
  size_t answered = 0;
  bool reader_gone = false;
  std::thread writer([&] {
    for (size_t k = 0; Clock::now() < until; ++k) {
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return reader_gone || sent.size() - answered < static_cast<size_t>(in_flight); });
        if (reader_gone) break;
        sent.push_back(Clock::now());
      }
      v1::CalibrateRequest r = observations[k % observations.size()];
      r.set_sequence(k + 1);
      if (!stream->Write(r)) break;
    }
    stream->WritesDone();
  });
  v1::CalibrateResponse answer;
  while (stream->Read(&answer)) {
    std::lock_guard<std::mutex> lock(mu);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - sent[answered]).count();
    if (answer.status().code() == 0) {
      section.Add(ms, true);
    } else {
      section.AddRejected(ms);
    }
    ++answered;
    cv.notify_all();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    reader_gone = true;
    cv.notify_all();
  }
  writer.join();
  if (absl::Status s = stream->Finish(); !s.ok()) {
    std::fprintf(stderr, "hybridload: Calibrate stream: %s\n", s.ToString().c_str());
    section.AddError();
  }
}

// Ratios of this run to the one saved in `path`, when that run had the same settings.
json CompareWithLastRun(const std::string& path, const json& run) {
  std::ifstream in(path);
  if (!in) return nullptr;
  json last = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (last.is_discarded() || !last.contains("settings")) {
    std::fprintf(stderr, "hybridload: %s is not a hybridload run; not compared\n", path.c_str());
    return nullptr;
  }
  if (last["settings"] != run["settings"]) {
    std::fprintf(stderr, "hybridload: the run in %s had other settings; not compared\n", path.c_str());
    return nullptr;
  }
  json out = {{"last_run_at", last.value("started_at", "")}};
  std::fprintf(stderr, "hybridload: this run against the last one (%s):\n", last.value("started_at", "").c_str());
  for (const char* section : {"predict", "calibrate", "baseline_list_models"}) {
    if (!run.contains(section) || !last.contains(section)) continue;
    const json &now = run[section], &before = last[section];
    auto ratio = [&](const char* key) {
      const double b = before.value(key, 0.0);
      return b > 0 ? now.value(key, 0.0) / b : 0.0;
    };
    out[section] = {{"per_second_ratio", ratio("per_second")}, {"p99_ratio", ratio("p99_ms")}};
    std::fprintf(stderr, "  %-21s %9.1f/s → %9.1f/s (×%.2f)   p99 %8.2f ms → %8.2f ms (×%.2f)\n", section,
                 before.value("per_second", 0.0), now.value("per_second", 0.0), ratio("per_second"),
                 before.value("p99_ms", 0.0), now.value("p99_ms", 0.0), ratio("p99_ms"));
  }
  return out;
}

std::string NowUtc() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

// The run's shape, from the flags of the same names.
struct LoadSettings {
  int predict_clients = 0, calibrate_streams = 0, in_flight = 0, per_observation = 0;
  double duration = 0, baseline_seconds = 0;
};

// The run's flags; INVALID_ARGUMENT naming the flag.
absl::StatusOr<LoadSettings> SettingsFromFlags() {
  LoadSettings s;
  s.predict_clients = absl::GetFlag(FLAGS_predict_clients);
  s.calibrate_streams = absl::GetFlag(FLAGS_calibrate_streams);
  s.duration = absl::GetFlag(FLAGS_duration);
  s.in_flight = absl::GetFlag(FLAGS_in_flight);
  s.per_observation = absl::GetFlag(FLAGS_windows_per_observation);
  s.baseline_seconds = absl::GetFlag(FLAGS_baseline_seconds);
  if (s.predict_clients < 0 || s.calibrate_streams < 0 || s.predict_clients + s.calibrate_streams == 0) {
    return absl::InvalidArgumentError("--predict_clients and --calibrate_streams must be ≥ 0, one of them > 0");
  }
  if (!(s.duration > 0)) return absl::InvalidArgumentError("--duration must be > 0");
  if (s.in_flight < 1 || s.per_observation < 1) {
    return absl::InvalidArgumentError("--in_flight and --windows_per_observation must be ≥ 1");
  }
  if (s.baseline_seconds < 0) return absl::InvalidArgumentError("--baseline_seconds must be ≥ 0");
  return s;
}

Clock::time_point After(Clock::time_point start, double seconds) {
  return start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// The load (Predict clients and Calibrate streams together), then the
// ListModels baseline alone; their summaries as results.json sections.
json RunLoad(HybridClient& client, const LoadSettings& s) {
  std::vector<v1::CalibrateRequest> observations;
  if (s.calibrate_streams > 0) {
    hybrid::client::Lorenz63SimulationOptions simulation;
    simulation.windows = 4096;
    simulation.noise_std = 0.05;
    observations = Observations(hybrid::client::SimulateLorenz63Windows(simulation).value(), s.per_observation);
  }
  const Clock::time_point start = Clock::now();
  const Clock::time_point until = After(start, s.duration);
  Section predict, calibrate, baseline;
  std::vector<std::thread> streams;
  for (int k = 0; k < s.calibrate_streams; ++k) {
    streams.emplace_back([&] { RunCalibrateStream(client, observations, s.in_flight, until, calibrate); });
  }
  RunClosedLoops(s.predict_clients, until, predict,
                 [&](int i) { return client.Predict(PredictRequestNumber(i)).ok(); });
  for (std::thread& t : streams) t.join();
  const double load_seconds = std::chrono::duration<double>(Clock::now() - start).count();

  const Clock::time_point baseline_start = Clock::now();
  RunClosedLoops(s.baseline_seconds > 0 ? std::max(s.predict_clients, 1) : 0,
                 After(baseline_start, s.baseline_seconds), baseline,
                 [&](int) { return client.ListModels().ok(); });
  const double baseline_elapsed = std::chrono::duration<double>(Clock::now() - baseline_start).count();

  json sections = json::object();
  if (s.predict_clients > 0) sections["predict"] = predict.Summary(load_seconds);
  if (s.calibrate_streams > 0) sections["calibrate"] = calibrate.Summary(load_seconds);
  if (s.baseline_seconds > 0) sections["baseline_list_models"] = baseline.Summary(baseline_elapsed);
  return sections;
}

// p50 (and min) of the plain-C++ forecast over about a second of runs.
json TimePlainForecast() {
  hybrid::loadtest::PlainForecast forecast;
  double checksum = 0.0;
  for (int i = 0; i < 5; ++i) checksum += forecast.Run({1.0, 1.0, 20.0});  // Warm caches.
  std::vector<double> ms;
  const Clock::time_point until = After(Clock::now(), 1.0);
  for (int i = 0; i < 2000 && (i < 20 || Clock::now() < until); ++i) {
    const double phase = 0.1 * (i % 97);
    const Clock::time_point start = Clock::now();
    checksum += forecast.Run({10 * std::sin(phase), 10 * std::cos(phase), 25 + 5 * std::sin(2 * phase)});
    ms.push_back(MsSince(start));
  }
  std::sort(ms.begin(), ms.end());
  return {{"runs", ms.size()}, {"p50_ms", ms[ms.size() / 2]}, {"min_ms", ms.front()}, {"checksum", checksum}};
}

}  // namespace

int main(int argc, char** argv) {
  hybrid::base::ParseCommandLine(argc, argv,
                                 "hybridload [--target=HOST:PORT] [--predict_clients=N] [--calibrate_streams=M] "
                                 "[--duration=S] (JSON out)");
  absl::StatusOr<LoadSettings> settings = SettingsFromFlags();
  if (!settings.ok()) {
    std::fprintf(stderr, "hybridload: %s\n", std::string(settings.status().message()).c_str());
    return 2;
  }
  absl::StatusOr<hybrid::client::ClientOptions> options = hybrid::client::ClientOptionsFromFlags();
  if (!options.ok()) {
    std::fprintf(stderr, "hybridload: %s\n", options.status().ToString().c_str());
    return 2;
  }
  absl::StatusOr<std::unique_ptr<HybridClient>> connected = HybridClient::Connect(*options);
  if (!connected.ok()) {
    std::fprintf(stderr, "hybridload: %s\n", connected.status().ToString().c_str());
    return 2;
  }
  HybridClient& client = **connected;
  if (absl::Status s = client.GetModel(absl::GetFlag(FLAGS_model)).status(); !s.ok()) {  // Connect, warm up.
    std::fprintf(stderr, "hybridload: %s\n", s.ToString().c_str());
    return 1;
  }

  const LoadSettings& s = *settings;
  json run = {{"started_at", NowUtc()},
              {"target", options->target},
              {"settings",
               {{"model", absl::GetFlag(FLAGS_model)},
                {"duration_s", s.duration},
                {"predict_clients", s.predict_clients},
                {"calibrate_streams", s.calibrate_streams},
                {"in_flight", s.in_flight},
                {"windows_per_observation", s.per_observation},
                {"horizon", absl::GetFlag(FLAGS_horizon)},
                {"step", absl::GetFlag(FLAGS_step)},
                {"ensemble_size", absl::GetFlag(FLAGS_ensemble_size)}}}};
  if (absl::GetFlag(FLAGS_plain_floor)) run["plain_forecast"] = TimePlainForecast();
  run.update(RunLoad(client, s));
  int64_t errors = 0;
  for (const char* section : {"predict", "calibrate", "baseline_list_models"}) {
    if (run.contains(section)) errors += run[section]["errors"].get<int64_t>();
  }
  if (run.contains("predict") && run.contains("baseline_list_models") &&
      run["baseline_list_models"]["p50_ms"].get<double>() > 0) {
    run["predict_over_baseline_p50"] =
        run["predict"]["p50_ms"].get<double>() / run["baseline_list_models"]["p50_ms"].get<double>();
    if (run.contains("plain_forecast")) {
      run["predict_over_floor_p50"] =
          run["predict"]["p50_ms"].get<double>() /
          (run["baseline_list_models"]["p50_ms"].get<double>() + run["plain_forecast"]["p50_ms"].get<double>());
    }
  }
  if (const std::string record = absl::GetFlag(FLAGS_record); !record.empty()) {
    if (json compared = CompareWithLastRun(record, run); !compared.is_null()) run["vs_last_run"] = compared;
    std::ofstream(record) << run.dump(2) << "\n";
  }
  std::printf("%s\n", run.dump(2).c_str());
  return errors == 0 ? 0 : 1;
}
