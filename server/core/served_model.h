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
// once on the worker thread. Observe does the same for entity reports
// (server/core/entities/observation_space.h says what is refused at the edge,
// entity_filter.h what the worker refuses per report). Thread-safe. The
// header stays free of LibTorch so that the RPC layer compiles quickly.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "hybrid/v1/model_config.pb.h"
#include "server/core/domain_types.h"
#include "server/core/inference_statistics.h"
#include "server/core/metrics.h"
#include "server/core/predict_batcher.h"
#include "solvers/hybrid/gradient_check.h"

namespace hybrid::server {

struct ModelSnapshot;
class CalibrationWorker;
class ObservationSpace;

class ServedModel {
 public:
  using Done = std::function<void(ObservationOutcome)>;

  // `config` must have defaults applied (ParseModelConfig does). `metrics` must
  // outlive the model. A relative config.checkpoint is read from `model_dir`.
  // With a `state_dir` (and durability not disabled) the model logs
  // observations and writes checkpoints there, and resumes from them
  // (CalibrationWorker::Start). INVALID_ARGUMENT naming the field for a bad
  // config or a checkpoint that does not fit it; NOT_FOUND for a missing
  // checkpoint file; recovery errors as CalibrationWorker::Start.
  static absl::StatusOr<std::unique_ptr<ServedModel>> Create(const v1::ModelConfig& config, Metrics* metrics,
                                                             const std::string& model_dir = "",
                                                             const std::string& state_dir = "");
  ~ServedModel();  // Answers queued observations, checkpoints, then stops the worker.

  const v1::ModelConfig& config() const { return config_; }
  int64_t state_dim() const { return static_cast<int64_t>(components_.size()); }
  const std::string& name() const { return config_.name(); }

  absl::StatusOr<PredictAnswer> Predict(const PredictQuery& query) const;
  // Predict on `pool`, merged with other waiting queries of the same forecast
  // when the config has dynamic_batching (server/core/predict_batcher.h);
  // `done` runs on a pool thread. `self`: this model, kept alive until then.
  // false: this model's Predict queue or the pool is full (done never runs).
  bool SchedulePredict(PredictQuery query, ThreadPool& pool, std::shared_ptr<const ServedModel> self,
                       PredictBatcher::Done done) const;
  absl::Status Submit(Observation observation, Done done);
  using ReportsDone = std::function<void(std::vector<ReportOutcome>)>;
  using StatusDone = std::function<void(absl::Status)>;
  absl::Status Observe(ReportBatch batch, ReportsDone done);
  absl::Status DeleteEntity(std::string entity, StatusDone done);  // `done`: OK or NOT_FOUND.
  // page_size in [1, 10000] (INVALID_ARGUMENT otherwise).
  absl::StatusOr<EntityPage> ListEntities(const std::string& start_after, int64_t page_size) const;
  absl::StatusOr<EntityView> GetEntity(const std::string& entity) const;  // NOT_FOUND when absent.
  // See CalibrationWorker: `done` runs later on the worker thread.
  using VersionDone = std::function<void(absl::StatusOr<uint64_t>)>;
  absl::Status SaveCheckpoint(VersionDone done);
  absl::Status Rollback(uint64_t version, VersionDone done);
  // Ends calibration: later Submit / SaveCheckpoint / Rollback answer
  // UNAVAILABLE; queued observations are answered and the final checkpoint is
  // written before it returns. Predict keeps serving the last snapshot to
  // whoever still holds the model. Idempotent; blocks for the drain.
  void Stop();
  // A slot for one Calibrate stream: false when limits.max_calibrate_streams
  // are open. Every true must be matched by one CloseStream.
  bool TryOpenStream();
  void CloseStream();
  // Counts an observation for this model that the RPC layer could not decode.
  void CountRejected();
  // What this model's forecasts cost (Triton's ModelStatistics); the RPC layer records them.
  InferenceStatistics& statistics() const { return statistics_; }
  ModelInfo Info() const;
  // Whether the current model's gradients are exact: autograd against finite
  // differences of a short forecast's loss with respect to θ and φ, on a
  // float64 copy (solvers/hybrid/gradient_check.h) — what `hybridserve
  // --check_model` reports. FAILED_PRECONDITION for a black-box physics or a
  // float32 model. Seconds of work for a large model; any thread.
  absl::StatusOr<solvers::GradientAgreement> CheckGradients() const;

 private:
  ServedModel(v1::ModelConfig config, Metrics* metrics, std::vector<ComponentInfo> components,
              std::shared_ptr<const ObservationSpace> space);
  std::shared_ptr<const ModelSnapshot> Snapshot() const;
  absl::Status ValidateObservation(const Observation& observation) const;
  absl::Status Stopped() const;
  ModelMetrics& model_metrics() const;

  const v1::ModelConfig config_;
  Metrics* const metrics_;
  const std::vector<ComponentInfo> components_;  // One per state component.
  const std::shared_ptr<const ObservationSpace> space_;
  std::atomic<int> open_streams_{0};
  mutable InferenceStatistics statistics_;
  mutable PredictBatcher batcher_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const ModelSnapshot> snapshot_ ABSL_GUARDED_BY(mu_);
  // Read-locked to use, write-locked by Stop to take it away.
  mutable absl::Mutex worker_mu_;
  std::unique_ptr<CalibrationWorker> worker_ ABSL_GUARDED_BY(worker_mu_);
};

}  // namespace hybrid::server
