// CalibrationWorker: the single thread that owns a model's mutable state
// (parameters, optimizer, noise estimate) and applies observations to it in
// arrival order, from all Calibrate streams of that model.
//
//   CalibrationWorker worker(std::move(calibrator), options, publish);
//   absl::Status queued = worker.Enqueue(observation, [](ObservationOutcome o) { ... });
//
// After every accepted update it publishes a new immutable snapshot through
// `publish`. `done` runs on the worker thread exactly once per queued
// observation, also for failed updates (FAILED_PRECONDITION for a non-finite
// loss or gradient or an update the divergence guard rolled back, which leave
// the model unchanged and keep the last good snapshot serving, the rollbacks
// counted in hybrid_calibration_rollbacks_total; INTERNAL for an exception
// from LibTorch). Enqueue is thread-safe and never blocks: RESOURCE_EXHAUSTED
// when `capacity` observations wait. The destructor answers everything queued,
// then joins.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "server/domain_types.h"
#include "server/metrics.h"
#include "server/model_snapshot.h"
#include "server/thread_pool.h"
#include "solvers/online_calibrator.h"

namespace hybrid::server {

class CalibrationWorker {
 public:
  using Done = std::function<void(ObservationOutcome)>;
  using Publish = std::function<void(std::shared_ptr<const ModelSnapshot>)>;

  struct Options {
    std::string model;
    size_t capacity = 1024;
    Metrics* metrics = nullptr;  // Not owned; must outlive the worker.
  };

  // Publishes the initial snapshot (version 0) before returning.
  CalibrationWorker(std::unique_ptr<solvers::OnlineCalibrator> calibrator, Options options, Publish publish);
  ~CalibrationWorker();
  CalibrationWorker(const CalibrationWorker&) = delete;
  CalibrationWorker& operator=(const CalibrationWorker&) = delete;

  absl::Status Enqueue(Observation observation, Done done);

 private:
  ObservationOutcome Process(const Observation& observation);

  std::unique_ptr<solvers::OnlineCalibrator> calibrator_;  // Worker thread only.
  const Options options_;
  const Publish publish_;
  ModelMetrics& metrics_;
  uint64_t version_ = 0;                         // Worker thread only.
  uint64_t accepted_ = 0;                        // Worker thread only.
  double coverage_ema_ = -1.0;                   // Worker thread only; < 0 before data.
  std::shared_ptr<const ModelSnapshot> latest_;  // Worker thread only.

  // One thread, FIFO: arrival order. Declared last so that it drains and joins
  // before anything its jobs use is destroyed.
  ThreadPool thread_;
};

}  // namespace hybrid::server
