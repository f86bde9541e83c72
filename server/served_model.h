// ServedModel: one hosted model — its config, its latest immutable snapshot
// and its calibration worker.
//
//   absl::StatusOr<std::unique_ptr<ServedModel>> m = ServedModel::Create(config, &metrics);
//   absl::StatusOr<PredictAnswer> a = (*m)->Predict(query);       // any thread
//   absl::Status s = (*m)->Submit(observation, on_outcome);        // any thread
//
// Predict reads the current snapshot and never waits for calibration. Submit
// validates the observation against the model synchronously (INVALID_ARGUMENT
// naming the field, OUT_OF_RANGE for limits; nothing is queued and the model is
// unchanged), then queues it (RESOURCE_EXHAUSTED when full); `done` later runs
// once on the worker thread. Thread-safe. The header stays free of LibTorch so
// that the RPC layer compiles quickly.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "hybrid/v1/model_config.pb.h"
#include "server/domain_types.h"
#include "server/metrics.h"

namespace hybrid::server {

struct ModelSnapshot;
class CalibrationWorker;

class ServedModel {
 public:
  using Done = std::function<void(ObservationOutcome)>;

  // `config` must have defaults applied (ParseModelConfig does). `metrics` must
  // outlive the model. A relative config.checkpoint is read from `model_dir`.
  // INVALID_ARGUMENT naming the field for a bad config or a checkpoint that
  // does not fit it; NOT_FOUND for a missing checkpoint file.
  static absl::StatusOr<std::unique_ptr<ServedModel>> Create(const v1::ModelConfig& config, Metrics* metrics,
                                                             const std::string& model_dir = "");
  ~ServedModel();  // Answers queued observations, then stops the worker.

  const v1::ModelConfig& config() const { return config_; }
  const std::string& name() const { return config_.name(); }

  absl::StatusOr<PredictAnswer> Predict(const PredictQuery& query) const;
  absl::Status Submit(Observation observation, Done done);
  // Counts an observation for this model that the RPC layer could not decode.
  void CountRejected();
  ModelInfo Info() const;

 private:
  ServedModel(v1::ModelConfig config, Metrics* metrics, int64_t state_dim);
  std::shared_ptr<const ModelSnapshot> Snapshot() const;
  absl::Status ValidateObservation(const Observation& observation) const;

  const v1::ModelConfig config_;
  Metrics* const metrics_;
  const int64_t state_dim_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const ModelSnapshot> snapshot_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<CalibrationWorker> worker_;
};

}  // namespace hybrid::server
