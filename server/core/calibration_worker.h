// CalibrationWorker: the single thread that owns a model's mutable state
// (parameters, optimizer, noise estimate, entities) and applies observations
// to it in arrival order, from all Calibrate streams and Observe calls of
// that model.
//
//   auto worker = CalibrationWorker::Start(std::move(calibrator), options, std::move(durability), publish);
//   absl::Status queued = (*worker)->Enqueue(observation, [](ObservationOutcome o) { ... });
//
// Durability (when `durability` is set): Start restores the newest checkpoint
// and re-applies every logged observation after it, so the model resumes in
// exactly the state it had; each observation is appended to the write-ahead
// log before it is applied, and its outcome (the acknowledgement) is produced
// only after that, so nothing acknowledged is ever lost. Group commit: the
// observations waiting in the queue are logged with one write and one
// fdatasync, then applied and answered one by one in arrival order. With
// max_observations_per_update > 1 up to that many of them (same step, steps
// and fields) are applied as ONE update on their windows together — each
// still logged and answered on its own, with the minibatch's loss and
// version — a change of semantics (fewer, larger steps), off by default. An observation whose
// stream was cancelled before it was logged is answered CANCELLED and not
// applied; one the log cannot take is answered UNAVAILABLE and not applied.
// Checkpoints are written as the config asks, on SaveCheckpoint, and when the
// worker stops with unlogged-since-checkpoint work; each trims the log.
//
// After every accepted update it publishes a new immutable snapshot through
// `publish`. `done` runs on the worker thread exactly once per queued
// observation, also for failed updates (FAILED_PRECONDITION for a non-finite
// loss or gradient or an update the divergence guard reverted, which leave
// the model unchanged and keep the last good snapshot serving, the reverted updates
// counted in hybrid_calibration_reverted_updates_total; INTERNAL for an exception
// from LibTorch). Enqueue, SaveCheckpoint and Rollback are thread-safe and never
// block: RESOURCE_EXHAUSTED when `capacity` jobs wait. The destructor answers
// everything queued, writes the final checkpoint, then joins.
//
// Entities (server/core/entities/entity_filter.h): Observe takes a batch of reports;
// each is checked against its entity (refused unlogged when it does not fit),
// logged, then applied; after the batch one snapshot with the new entity
// table is published (sharing the model: reports change no version unless
// entities.estimate_parameters moves θ) and
// `done` gets an outcome per report. DeleteEntity is logged too. Checkpoints
// hold every entity; Rollback restores θ, φ and the error model but keeps the
// entities as they are (they follow the stream, not a calibration).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/core/domain_types.h"
#include "server/core/entities/entity_filter.h"
#include "server/core/entities/lead_buckets.h"
#include "server/core/metrics.h"
#include "server/core/model_snapshot.h"
#include "server/core/thread_pool.h"
#include "server/durability/model_durability.h"
#include "solvers/calibration/online_calibrator.h"

namespace hybrid::server {

class CalibrationWorker {
 public:
  using Done = std::function<void(ObservationOutcome)>;
  using VersionDone = std::function<void(absl::StatusOr<uint64_t>)>;
  using Publish = std::function<void(std::shared_ptr<const ModelSnapshot>)>;
  using ReportsDone = std::function<void(std::vector<ReportOutcome>)>;
  using StatusDone = std::function<void(absl::Status)>;

  struct Options {
    std::string model;
    size_t capacity = 1024;
    // calibration.max_observations_per_update: up to this many queued
    // observations of one window kind are applied as one minibatch update.
    int max_observations_per_update = 1;
    Metrics* metrics = nullptr;  // Not owned; must outlive the worker.
  };

  // Recovers (see above), then publishes the current snapshot before
  // returning. Errors from recovery name the file: DATA_LOSS for a corrupt
  // log or checkpoint, INVALID_ARGUMENT for a checkpoint of another
  // architecture, FAILED_PRECONDITION when another process holds the log.
  static absl::StatusOr<std::unique_ptr<CalibrationWorker>> Start(std::unique_ptr<solvers::OnlineCalibrator> calibrator,
                                                                  std::unique_ptr<EntityFilter> entities,
                                                                  Options options,
                                                                  std::unique_ptr<ModelDurability> durability,
                                                                  Publish publish);
  ~CalibrationWorker();
  CalibrationWorker(const CalibrationWorker&) = delete;
  CalibrationWorker& operator=(const CalibrationWorker&) = delete;

  absl::Status Enqueue(Observation observation, Done done);
  // `batch` resolved by the model's ObservationSpace.
  absl::Status Observe(ReportBatch batch, ReportsDone done);
  // `done`: OK, or NOT_FOUND for an unknown entity (nothing logged).
  absl::Status DeleteEntity(std::string entity, StatusDone done);
  // Writes a checkpoint of the current version; `done` gets the version.
  absl::Status SaveCheckpoint(VersionDone done);
  // Restores the checkpoint of `version` and serves it as a new version
  // (versions only grow), checkpointed at once so a restart keeps it. `done`
  // gets the new version, or NOT_FOUND listing the versions kept. Both answer
  // FAILED_PRECONDITION through `done` when the model is not durable.
  absl::Status Rollback(uint64_t version, VersionDone done);
  DurabilityInfo durability_info() const;          // Any thread.
  CalibrationStatus calibration_status() const;    // Any thread; coverage_target left 0 (the config's).

 private:
  CalibrationWorker(std::unique_ptr<solvers::OnlineCalibrator> calibrator, std::unique_ptr<EntityFilter> entities,
                    Options options, std::unique_ptr<ModelDurability> durability, Publish publish);
  struct Pending {
    Observation observation;
    Done done;
    uint64_t ticket = 0;  // Its job's place among every job scheduled.
  };
  // Records one group commit writes at most.
  static constexpr size_t kMaxGroupCommit = 256;

  absl::Status Recover();
  // The job of the observation with `ticket`: takes it and the observations
  // queued right after it (no other job between them), logs them with one
  // fdatasync, applies them in order (minibatches of max_observations_per_update)
  // and answers each. Nothing when an earlier job took it.
  void ProcessPending(uint64_t ticket);
  std::vector<Pending> TakeRun(uint64_t ticket);
  // Applies the observations as one update (one: the plain online update);
  // `live` false while replaying the log (no counters).
  ObservationOutcome Apply(const std::vector<const Observation*>& minibatch, bool live);
  // Adds the log's new fdatasync calls and time to the metrics.
  void CountSyncs();
  ReportOutcome ProcessReport(const Report& report, const std::string& field, const std::function<bool()>& cancelled);
  // The scored forecast of a live report into its lead bucket's skill.
  void ScoreOnline(const ReportOutcome& outcome);
  // `live` false while replaying the log (nothing published).
  ReportOutcome ApplyReport(const Report& report, bool live);
  // After a durable write: a checkpoint when one is due, and the durability info.
  void AfterLogged();
  void PublishLatest();
  void PublishEntities();
  absl::StatusOr<uint64_t> WriteCheckpoint(uint64_t restored_from = 0);
  absl::StatusOr<uint64_t> RestoreVersion(uint64_t version);
  void RefreshDurabilityInfo(bool list_versions = false);
  // Changes the published calibration status and sets the gauges from it.
  void UpdateCalibrationStatus(const std::function<void(CalibrationStatus&)>& change);
  absl::Status Schedule(std::function<void()> job);
  absl::Status Scheduled(bool scheduled);  // RESOURCE_EXHAUSTED, or the queue depth updated.

  std::unique_ptr<solvers::OnlineCalibrator> calibrator_;  // Worker thread only.
  std::unique_ptr<EntityFilter> entities_;                 // Worker thread only.
  const Options options_;
  std::unique_ptr<ModelDurability> durability_;  // Worker thread only; null: not durable.
  const Publish publish_;
  ModelMetrics& metrics_;
  uint64_t version_ = 0;                         // Worker thread only.
  uint64_t accepted_ = 0;                        // Worker thread only.
  double coverage_ema_ = -1.0;                   // Worker thread only; < 0 before data.
  std::shared_ptr<const ModelSnapshot> latest_;  // Worker thread only.
  bool unpublished_model_ = false;               // Worker thread only: θ moved since latest_.
  // Worker thread only: online skill per lead bucket, since this process started
  // (monitoring only: not checkpointed, so a restart begins it again).
  std::array<OnlineSkill, kLeadBuckets> skill_{};

  int64_t counted_syncs_ = 0;          // Worker thread only: the log's syncs() already counted.
  double counted_sync_seconds_ = 0.0;  // Worker thread only.

  // Observations queued and not yet taken, in ticket order; every job
  // scheduled takes the next ticket, so a run of consecutive tickets has no
  // other job between its observations and arrival order holds.
  absl::Mutex pending_mu_;
  std::deque<Pending> pending_ ABSL_GUARDED_BY(pending_mu_);
  uint64_t next_ticket_ ABSL_GUARDED_BY(pending_mu_) = 0;

  mutable absl::Mutex info_mu_;
  DurabilityInfo info_ ABSL_GUARDED_BY(info_mu_);
  CalibrationStatus calibration_ ABSL_GUARDED_BY(info_mu_);

  // One thread, FIFO: arrival order. Idle until Start has recovered; stopped
  // first in the destructor so that it drains before the final checkpoint.
  ThreadPool thread_;
};

}  // namespace hybrid::server
