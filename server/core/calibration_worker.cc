#include "server/core/calibration_worker.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "solvers/torch_status.h"

namespace hybrid::server {
namespace {

constexpr double kCoverageEmaWeight = 0.02;

at::Tensor ToWindows(const DenseArray& a, at::ScalarType dtype) {
  const int64_t dim = a.shape.back();
  return at::tensor(a.values, at::kDouble).view({-1, dim}).to(dtype);
}

// Observations that can be one update: the same step and steps, and the same
// fields present.
bool SameWindowKind(const Observation& a, const Observation& b) {
  return a.step == b.step && a.steps == b.steps && a.mask.shape.empty() == b.mask.shape.empty() &&
         a.path.shape.empty() == b.path.shape.empty() && a.start.shape.back() == b.start.shape.back();
}

absl::Status NotDurable(const std::string& model) {
  return absl::FailedPreconditionError(
      absl::StrCat("model '", model, "' keeps no checkpoints (its config sets durability.disabled)"));
}

}  // namespace

CalibrationWorker::CalibrationWorker(std::unique_ptr<solvers::OnlineCalibrator> calibrator,
                                     std::unique_ptr<EntityFilter> entities, Options options,
                                     std::unique_ptr<ModelDurability> durability, Publish publish)
    : calibrator_(std::move(calibrator)),
      entities_(std::move(entities)),
      options_(std::move(options)),
      durability_(std::move(durability)),
      publish_(std::move(publish)),
      metrics_(options_.metrics->ForModel(options_.model, calibrator_->options().coverage_level)),
      thread_(/*threads=*/1, options_.capacity) {}

absl::StatusOr<std::unique_ptr<CalibrationWorker>> CalibrationWorker::Start(
    std::unique_ptr<solvers::OnlineCalibrator> calibrator, std::unique_ptr<EntityFilter> entities, Options options,
    std::unique_ptr<ModelDurability> durability, Publish publish) {
  std::unique_ptr<CalibrationWorker> worker(new CalibrationWorker(
      std::move(calibrator), std::move(entities), std::move(options), std::move(durability), std::move(publish)));
  if (worker->durability_) {
    if (absl::Status s = worker->Recover(); !s.ok()) return s;
  }
  worker->PublishLatest();
  worker->metrics_.entities->Set(static_cast<double>(worker->entities_->table().size()));
  worker->RefreshDurabilityInfo(/*list_versions=*/true);
  return worker;
}

CalibrationWorker::~CalibrationWorker() {
  thread_.Stop();  // Answers everything queued, then joins.
  if (durability_ && durability_->HasUncheckpointedRecords()) {
    if (absl::StatusOr<uint64_t> v = WriteCheckpoint(); !v.ok()) {
      std::fprintf(stderr, "hybridserve: model '%s': final checkpoint failed: %s\n", options_.model.c_str(),
                   v.status().ToString().c_str());
    }
  }
}

absl::Status CalibrationWorker::Recover() {
  absl::StatusOr<std::optional<v1::StoredCheckpoint>> latest = durability_->LatestCheckpoint();
  if (!latest.ok()) return latest.status();
  uint64_t lsn = 0;
  if (latest->has_value()) {
    const v1::StoredCheckpoint& c = **latest;
    if (absl::Status s = calibrator_->LoadState(c.calibrator_state()); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("checkpoint of version ", c.version(), ": ", s.message()));
    }
    if (absl::Status s = entities_->Load(c); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("checkpoint of version ", c.version(), ": ", s.message()));
    }
    version_ = c.version();
    accepted_ = c.observations_accepted();
    coverage_ema_ = c.coverage_ema();
    lsn = c.wal_lsn();
  }
  int64_t replayed = 0;
  // A minibatch's observations, gathered until it is whole. Its first record
  // carries its size (≥ 1; logs older than minibatches hold 0 everywhere:
  // each alone), so a minibatch a crash cut short — never acknowledged; its
  // whole records are applied — ends at the next record that starts one.
  std::vector<Observation> minibatch;
  size_t minibatch_size = 0;
  auto apply_minibatch = [&] {
    if (minibatch.empty()) return;
    std::vector<const Observation*> observations;
    for (const Observation& o : minibatch) observations.push_back(&o);
    Apply(observations, /*live=*/false);
    minibatch.clear();
  };
  // Failed updates fail again, identically: nothing to do for them.
  absl::Status s = durability_->Replay(lsn, [&](uint64_t, LogRecord record) -> absl::Status {
    ++replayed;
    if (Observation* o = std::get_if<Observation>(&record)) {
      if (o->minibatch >= 1) apply_minibatch();  // A new one starts: the open one was cut short.
      if (minibatch.empty()) minibatch_size = static_cast<size_t>(std::max(o->minibatch, 1));
      minibatch.push_back(std::move(*o));
      if (minibatch.size() >= minibatch_size) apply_minibatch();
      return absl::OkStatus();
    }
    apply_minibatch();  // Only after a torn group: never drop what the log holds.
    if (const Report* r = std::get_if<Report>(&record)) {
      ApplyReport(*r, /*live=*/false);
    } else {
      (void)entities_->Delete(std::get<EntityDeletion>(record).entity);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  apply_minibatch();
  {
    absl::MutexLock lock(&info_mu_);
    info_.replayed_at_start = replayed;
  }
  if (latest->has_value() || replayed > 0) {
    std::fprintf(stderr,
                 "hybridserve: model '%s': resumed at version %llu (checkpoint %s, %lld logged observations "
                 "re-applied, %lld torn bytes dropped)\n",
                 options_.model.c_str(), static_cast<unsigned long long>(version_),
                 latest->has_value() ? std::to_string((*latest)->version()).c_str() : "none",
                 static_cast<long long>(replayed), static_cast<long long>(durability_->wal().torn_bytes()));
  }
  return absl::OkStatus();
}

absl::Status CalibrationWorker::Schedule(std::function<void()> job) {
  bool scheduled;
  {
    absl::MutexLock lock(&pending_mu_);
    scheduled = thread_.TrySchedule(std::move(job));
    if (scheduled) ++next_ticket_;
  }
  return Scheduled(scheduled);
}

absl::Status CalibrationWorker::Scheduled(bool scheduled) {
  if (!scheduled) {
    return absl::ResourceExhaustedError(absl::StrCat("calibration queue of model '", options_.model, "' is full (",
                                                     options_.capacity, " observations); retry later"));
  }
  UpdateCalibrationStatus([&](CalibrationStatus& s) { s.queue_depth = static_cast<int64_t>(thread_.queued()); });
  return absl::OkStatus();
}

absl::Status CalibrationWorker::Enqueue(Observation observation, Done done) {
  bool scheduled;
  {
    // The job and the pending entry are one step under pending_mu_, so the
    // job (which takes the lock first) always finds its entry.
    absl::MutexLock lock(&pending_mu_);
    const uint64_t ticket = next_ticket_;
    scheduled = thread_.TrySchedule([this, ticket] { ProcessPending(ticket); });
    if (scheduled) {
      pending_.push_back(Pending{std::move(observation), std::move(done), ticket});
      ++next_ticket_;
    }
  }
  return Scheduled(scheduled);
}

absl::Status CalibrationWorker::Observe(ReportBatch batch, ReportsDone done) {
  return Schedule([this, batch = std::move(batch), done = std::move(done)] {
    UpdateCalibrationStatus([&](CalibrationStatus& s) { s.queue_depth = static_cast<int64_t>(thread_.queued()); });
    std::vector<ReportOutcome> outcomes;
    outcomes.reserve(batch.reports.size());
    for (size_t i = 0; i < batch.reports.size(); ++i) {
      outcomes.push_back(ProcessReport(batch.reports[i], absl::StrCat("reports[", i, "]"), batch.cancelled));
    }
    // One snapshot for the batch: a deep copy only when θ moved.
    if (unpublished_model_) {
      PublishLatest();
      unpublished_model_ = false;
    } else {
      PublishEntities();
    }
    done(std::move(outcomes));
  });
}

absl::Status CalibrationWorker::DeleteEntity(std::string entity, StatusDone done) {
  return Schedule([this, entity = std::move(entity), done = std::move(done)] {
    if (!entities_->table().Find(entity)) {
      done(absl::NotFoundError(absl::StrCat("model '", options_.model, "' has no entity '", entity, "'")));
      return;
    }
    if (durability_) {
      if (absl::StatusOr<uint64_t> lsn = durability_->Log(EntityDeletion{entity}); !lsn.ok()) {
        done(absl::UnavailableError(
            absl::StrCat("the write-ahead log cannot take the deletion (", lsn.status().message(), "); not deleted")));
        return;
      }
    }
    (void)entities_->Delete(entity);
    metrics_.entities->Set(static_cast<double>(entities_->table().size()));
    PublishEntities();
    AfterLogged();
    done(absl::OkStatus());
  });
}

ReportOutcome CalibrationWorker::ProcessReport(const Report& report, const std::string& field,
                                               const std::function<bool()>& cancelled) {
  const auto started = std::chrono::steady_clock::now();
  ReportOutcome outcome;
  if (cancelled && cancelled()) {
    outcome.status = absl::CancelledError("the call was cancelled before this report was logged; not applied");
    metrics_.reports_refused->Increment();
    return outcome;
  }
  if (std::shared_ptr<const EntityState> applied = entities_->IsRedelivery(report)) {
    outcome.duplicate = true;
    outcome.entity_reports = applied->reports;
    metrics_.reports_duplicate->Increment();
    return outcome;
  }
  if (absl::Status s = entities_->Check(report, field); !s.ok()) {
    outcome.status = s;
    metrics_.reports_refused->Increment();
    return outcome;
  }
  if (durability_) {
    if (absl::StatusOr<uint64_t> lsn = durability_->Log(report); !lsn.ok()) {
      outcome.status = absl::UnavailableError(
          absl::StrCat("the write-ahead log cannot take the report (", lsn.status().message(), "); not applied"));
      metrics_.reports_refused->Increment();
      return outcome;
    }
  }
  outcome = ApplyReport(report, /*live=*/true);
  AfterLogged();
  (outcome.status.ok() ? metrics_.reports_accepted : metrics_.reports_failed)->Increment();
  metrics_.entities->Set(static_cast<double>(entities_->table().size()));
  if (outcome.status.ok() && outcome.crps) ScoreOnline(outcome);
  metrics_.assimilation_duration->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return outcome;
}

void CalibrationWorker::ScoreOnline(const ReportOutcome& outcome) {
  const size_t b = LeadBucket(outcome.lead);
  OnlineSkill& s = skill_[b];
  const double weight = s.reports == 0 ? 1.0 : kCoverageEmaWeight;
  s.lead_le = LeadBucketLabel(b);
  s.reports += 1;
  s.crps += weight * (*outcome.crps - s.crps);
  s.coverage += weight * (*outcome.coverage - s.coverage);
  options_.metrics->SetOnlineSkill(options_.model, calibrator_->options().coverage_level, b, s.crps, s.coverage);
  UpdateCalibrationStatus([&](CalibrationStatus& status) {
    status.online.clear();
    for (const OnlineSkill& bucket : skill_) {
      if (bucket.reports > 0) status.online.push_back(bucket);
    }
  });
}

ReportOutcome CalibrationWorker::ApplyReport(const Report& report, bool live) {
  bool parameters_changed = false;
  absl::StatusOr<ReportOutcome> applied = solvers::RunCatchingTorch(
      "assimilation",
      [&]() -> absl::StatusOr<ReportOutcome> { return entities_->Apply(report, *calibrator_, &parameters_changed); });
  if (parameters_changed) {
    ++version_;  // θ moved: the model is another one.
    unpublished_model_ = live;
  }
  if (applied.ok()) return *std::move(applied);
  ReportOutcome failed;
  failed.status = applied.status();
  return failed;
}

void CalibrationWorker::AfterLogged() {
  if (durability_ && durability_->CheckpointDue()) {
    if (absl::StatusOr<uint64_t> v = WriteCheckpoint(); !v.ok()) {
      // The log still holds everything: a failed checkpoint costs replay time, not data.
      std::fprintf(stderr, "hybridserve: model '%s': checkpoint failed: %s\n", options_.model.c_str(),
                   v.status().ToString().c_str());
    }
  }
  RefreshDurabilityInfo();
}

absl::Status CalibrationWorker::SaveCheckpoint(VersionDone done) {
  return Schedule([this, done = std::move(done)] {
    done(durability_ ? WriteCheckpoint() : absl::StatusOr<uint64_t>(NotDurable(options_.model)));
  });
}

absl::Status CalibrationWorker::Rollback(uint64_t version, VersionDone done) {
  return Schedule([this, version, done = std::move(done)] {
    done(durability_ ? RestoreVersion(version) : absl::StatusOr<uint64_t>(NotDurable(options_.model)));
  });
}

DurabilityInfo CalibrationWorker::durability_info() const {
  absl::MutexLock lock(&info_mu_);
  return info_;
}

CalibrationStatus CalibrationWorker::calibration_status() const {
  absl::MutexLock lock(&info_mu_);
  return calibration_;
}

void CalibrationWorker::UpdateCalibrationStatus(const std::function<void(CalibrationStatus&)>& change) {
  absl::MutexLock lock(&info_mu_);
  change(calibration_);
  // Gauges start at 0; the status says "none yet" where they cannot.
  metrics_.queue_depth->Set(static_cast<double>(calibration_.queue_depth));
  if (calibration_.loss) metrics_.loss->Set(*calibration_.loss);
  if (calibration_.coverage) metrics_.coverage->Set(*calibration_.coverage);
}

std::vector<CalibrationWorker::Pending> CalibrationWorker::TakeRun(uint64_t ticket) {
  std::vector<Pending> run;
  absl::MutexLock lock(&pending_mu_);
  // Taken by an earlier job's run already: nothing to do.
  if (pending_.empty() || pending_.front().ticket != ticket) return run;
  do {
    run.push_back(std::move(pending_.front()));
    pending_.pop_front();
  } while (!pending_.empty() && pending_.front().ticket == run.back().ticket + 1 && run.size() < kMaxGroupCommit);
  return run;
}

void CalibrationWorker::ProcessPending(uint64_t ticket) {
  std::vector<Pending> run = TakeRun(ticket);
  if (run.empty()) return;
  UpdateCalibrationStatus([&](CalibrationStatus& s) { s.queue_depth = static_cast<int64_t>(thread_.queued()); });
  // Outcomes by position in the run; answered strictly in run (arrival) order.
  std::vector<std::optional<ObservationOutcome>> outcomes(run.size());
  size_t answered = 0;
  auto answer_through = [&](size_t end) {
    for (; answered < end; ++answered) run[answered].done(*std::move(outcomes[answered]));
  };
  std::vector<size_t> live;
  for (size_t i = 0; i < run.size(); ++i) {
    const Observation& o = run[i].observation;
    if (o.cancelled && o.cancelled()) {
      ObservationOutcome& outcome = outcomes[i].emplace();
      outcome.sequence = o.sequence;
      outcome.status = absl::CancelledError("the stream was cancelled before this observation was logged; not applied");
    } else {
      live.push_back(i);
    }
  }
  if (live.empty()) return answer_through(run.size());
  metrics_.last_observation->Set(
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());

  // Minibatches of consecutive observations of one kind; each one's first
  // record carries its size, so that replay applies them the same way.
  std::vector<std::vector<size_t>> minibatches;
  for (size_t i : live) {
    if (minibatches.empty() || static_cast<int>(minibatches.back().size()) >= options_.max_observations_per_update ||
        !SameWindowKind(run[minibatches.back().front()].observation, run[i].observation)) {
      minibatches.emplace_back();
    }
    minibatches.back().push_back(i);
  }
  for (const auto& minibatch : minibatches) {
    run[minibatch.front()].observation.minibatch = static_cast<int32_t>(minibatch.size());
  }

  if (durability_) {
    // Group commit: one write and one fdatasync for every observation waiting.
    std::vector<const Observation*> records;
    for (size_t i : live) records.push_back(&run[i].observation);
    absl::StatusOr<uint64_t> lsn = durability_->LogGroup(records);
    CountSyncs();
    if (!lsn.ok()) {
      for (size_t i : live) {
        ObservationOutcome& outcome = outcomes[i].emplace();
        outcome.sequence = run[i].observation.sequence;
        outcome.status = absl::UnavailableError(absl::StrCat("the write-ahead log cannot take the observation (",
                                                             lsn.status().message(), "); not applied"));
        outcome.parameters = latest_->parameters;
        outcome.version = latest_->version;
        metrics_.failed->Increment();
      }
      return answer_through(run.size());
    }
    RefreshDurabilityInfo();
  }
  // Each is answered once its own update is done (its record is durable
  // already); the checkpoint, which covers every logged record, waits until
  // the whole run is applied.
  for (const auto& minibatch : minibatches) {
    std::vector<const Observation*> observations;
    for (size_t i : minibatch) observations.push_back(&run[i].observation);
    const ObservationOutcome outcome = Apply(observations, /*live=*/true);
    for (size_t i : minibatch) {
      outcomes[i] = outcome;
      outcomes[i]->sequence = run[i].observation.sequence;
    }
    answer_through(minibatch.back() + 1);
  }
  answer_through(run.size());
  AfterLogged();
}

void CalibrationWorker::CountSyncs() {
  const WriteAheadLog& wal = durability_->wal();
  metrics_.wal_syncs->Increment(static_cast<double>(wal.syncs() - counted_syncs_));
  metrics_.wal_sync_seconds->Increment(wal.sync_seconds() - counted_sync_seconds_);
  counted_syncs_ = wal.syncs();
  counted_sync_seconds_ = wal.sync_seconds();
}

ObservationOutcome CalibrationWorker::Apply(const std::vector<const Observation*>& minibatch, bool live) {
  const auto started = std::chrono::steady_clock::now();
  ObservationOutcome outcome;
  outcome.sequence = minibatch.front()->sequence;
  outcome.coverage_level = calibrator_->options().coverage_level;

  const int64_t reverted_before = calibrator_->reverted_updates();
  absl::StatusOr<solvers::CalibrationStep> step =
      solvers::RunCatchingTorch("calibration update", [&]() -> absl::StatusOr<solvers::CalibrationStep> {
        const at::ScalarType dtype = calibrator_->model().dtype();
        const Observation& first = *minibatch.front();
        std::vector<at::Tensor> start, end, mask, path;
        for (const Observation* o : minibatch) {
          start.push_back(ToWindows(o->start, dtype));
          end.push_back(ToWindows(o->end, dtype));
          if (!o->mask.shape.empty()) mask.push_back(ToWindows(o->mask, dtype));
          if (!o->path.shape.empty()) {
            path.push_back(ToWindows(o->path, dtype).view({start.back().size(0), o->steps, start.back().size(1)}));
          }
        }
        solvers::WindowBatch batch;
        batch.start = at::cat(start);
        batch.end = at::cat(end);
        if (!mask.empty()) batch.mask = at::cat(mask);
        if (!path.empty()) batch.path = at::cat(path);
        batch.step = first.step;
        batch.steps = first.steps;
        return calibrator_->Update(batch);
      });

  const auto observations = static_cast<double>(minibatch.size());
  if (step.ok()) {
    ++version_;
    accepted_ += minibatch.size();
    coverage_ema_ = coverage_ema_ < 0.0
                        ? step->coverage
                        : (1.0 - kCoverageEmaWeight) * coverage_ema_ + kCoverageEmaWeight * step->coverage;
    outcome.loss = step->loss;
    outcome.coverage = step->coverage;
    outcome.gradient_norm = step->gradient_norm;
    if (live) {
      PublishLatest();
      metrics_.accepted->Increment(observations);
      metrics_.updates->Increment();
      UpdateCalibrationStatus([&](CalibrationStatus& s) { s.loss = step->loss; });
    }
  } else {
    outcome.status = step.status();
    if (live) {
      metrics_.failed->Increment(observations);
      metrics_.reverted_updates->Increment(static_cast<double>(calibrator_->reverted_updates() - reverted_before));
    }
  }
  if (live) {
    outcome.parameters = latest_->parameters;
    outcome.version = latest_->version;
    metrics_.step_duration->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  return outcome;
}

void CalibrationWorker::PublishLatest() {
  latest_ = TakeSnapshot(*calibrator_, version_, accepted_, entities_->table(), entities_->log_scales());
  publish_(latest_);
  metrics_.version->Set(static_cast<double>(version_));
  if (coverage_ema_ >= 0.0) UpdateCalibrationStatus([&](CalibrationStatus& s) { s.coverage = coverage_ema_; });
  for (const ParameterEstimate& p : latest_->parameters) {
    options_.metrics->SetParameter(options_.model, p.name, p.value, p.std);
  }
}

void CalibrationWorker::PublishEntities() {
  latest_ = latest_->WithEntities(entities_->table(), entities_->log_scales());
  publish_(latest_);
}

absl::StatusOr<uint64_t> CalibrationWorker::WriteCheckpoint(uint64_t restored_from) {
  absl::StatusOr<std::string> state = calibrator_->SaveState();
  if (!state.ok()) return state.status();
  v1::StoredCheckpoint checkpoint;
  checkpoint.set_model(options_.model);
  checkpoint.set_version(version_);
  checkpoint.set_observations_accepted(accepted_);
  checkpoint.set_coverage_ema(coverage_ema_);
  checkpoint.set_calibrator_state(*std::move(state));
  checkpoint.set_restored_from(restored_from);
  entities_->Save(checkpoint);
  const CheckpointEntities entities{entities_->Changes(), [this] { return entities_->Everything(); }};
  if (absl::Status s = durability_->WriteCheckpoint(std::move(checkpoint), entities); !s.ok()) return s;
  entities_->Checkpointed();
  RefreshDurabilityInfo(/*list_versions=*/true);
  return version_;
}

absl::StatusOr<uint64_t> CalibrationWorker::RestoreVersion(uint64_t version) {
  absl::StatusOr<v1::StoredCheckpoint> target = durability_->ReadCheckpointHeader(version);
  if (!target.ok()) return target.status();
  absl::StatusOr<std::string> current = calibrator_->SaveState();
  if (!current.ok()) return current.status();
  if (absl::Status s = calibrator_->LoadState(target->calibrator_state()); !s.ok()) return s;  // Unchanged.
  const uint64_t previous_version = version_, previous_accepted = accepted_;
  const double previous_coverage = coverage_ema_;
  version_ = version_ + 1;
  accepted_ = target->observations_accepted();
  coverage_ema_ = target->coverage_ema();
  // Durable before it serves: a restart must come back to the restored state.
  absl::StatusOr<uint64_t> written = WriteCheckpoint(/*restored_from=*/version);
  if (!written.ok()) {
    (void)calibrator_->LoadState(*current);  // Its own state: cannot fail for another architecture.
    version_ = previous_version;
    accepted_ = previous_accepted;
    coverage_ema_ = previous_coverage;
    return written.status();
  }
  PublishLatest();
  return version_;
}

void CalibrationWorker::RefreshDurabilityInfo(bool list_versions) {
  if (!durability_) return;
  std::vector<uint64_t> versions;
  if (list_versions) versions = durability_->Versions();  // Lists a folder: only when checkpoints change.
  absl::MutexLock lock(&info_mu_);
  info_.enabled = true;
  info_.last_logged = durability_->wal().last_lsn();
  info_.wal_bytes = durability_->wal().bytes();
  info_.last_checkpoint_unix_ms = durability_->last_checkpoint_unix_ms();
  if (list_versions) info_.checkpoint_versions = std::move(versions);
  metrics_.wal_bytes->Set(static_cast<double>(info_.wal_bytes));
  if (info_.last_checkpoint_unix_ms >= 0) {
    metrics_.checkpoint_timestamp->Set(static_cast<double>(info_.last_checkpoint_unix_ms) / 1000.0);
  }
}

}  // namespace hybrid::server
