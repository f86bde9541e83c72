#include "server/calibration_worker.h"

#include <ATen/ATen.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "solvers/torch_status.h"

namespace hybrid::server {
namespace {

constexpr double kCoverageEmaWeight = 0.02;

at::Tensor ToWindows(const DenseArray& a, at::ScalarType dtype) {
  const int64_t dim = a.shape.back();
  return at::tensor(a.values, at::kDouble).view({-1, dim}).to(dtype);
}

}  // namespace

CalibrationWorker::CalibrationWorker(std::unique_ptr<solvers::OnlineCalibrator> calibrator, Options options,
                                     Publish publish)
    : calibrator_(std::move(calibrator)),
      options_(std::move(options)),
      publish_(std::move(publish)),
      metrics_(options_.metrics->ForModel(options_.model, calibrator_->options().coverage_level)),
      thread_(/*threads=*/1, options_.capacity) {
  latest_ = TakeSnapshot(*calibrator_, version_, accepted_);
  for (const ParameterEstimate& p : latest_->parameters)
    options_.metrics->Parameter(options_.model, p.name).Set(p.value);
  metrics_.version->Set(0);
  publish_(latest_);
}

CalibrationWorker::~CalibrationWorker() = default;

absl::Status CalibrationWorker::Enqueue(Observation observation, Done done) {
  auto job = [this, observation = std::move(observation), done = std::move(done)] {
    metrics_.queue_depth->Set(static_cast<double>(thread_.queued()));
    done(Process(observation));
  };
  if (!thread_.TrySchedule(std::move(job))) {
    return absl::ResourceExhaustedError(absl::StrCat("calibration queue of model '", options_.model, "' is full (",
                                                     options_.capacity, " observations); retry later"));
  }
  metrics_.queue_depth->Set(static_cast<double>(thread_.queued()));
  return absl::OkStatus();
}

ObservationOutcome CalibrationWorker::Process(const Observation& observation) {
  const auto started = std::chrono::steady_clock::now();
  ObservationOutcome outcome;
  outcome.sequence = observation.sequence;
  outcome.coverage_level = calibrator_->options().coverage_level;

  const int64_t rollbacks_before = calibrator_->rollbacks();
  absl::StatusOr<solvers::CalibrationStep> step =
      solvers::RunCatchingTorch("calibration update", [&]() -> absl::StatusOr<solvers::CalibrationStep> {
        solvers::WindowBatch batch;
        batch.start = ToWindows(observation.start, calibrator_->model().dtype());
        batch.end = ToWindows(observation.end, calibrator_->model().dtype());
        if (!observation.mask.shape.empty()) batch.mask = ToWindows(observation.mask, calibrator_->model().dtype());
        if (!observation.path.shape.empty()) {
          batch.path = ToWindows(observation.path, calibrator_->model().dtype())
                           .view({batch.start.size(0), observation.steps, batch.start.size(1)});
        }
        batch.step = observation.step;
        batch.steps = observation.steps;
        return calibrator_->Update(batch);
      });

  if (step.ok()) {
    ++version_;
    ++accepted_;
    latest_ = TakeSnapshot(*calibrator_, version_, accepted_);
    publish_(latest_);
    coverage_ema_ = coverage_ema_ < 0.0
                        ? step->coverage
                        : (1.0 - kCoverageEmaWeight) * coverage_ema_ + kCoverageEmaWeight * step->coverage;
    outcome.loss = step->loss;
    outcome.coverage = step->coverage;
    outcome.gradient_norm = step->gradient_norm;
    metrics_.accepted->Increment();
    metrics_.updates->Increment();
    metrics_.loss->Set(step->loss);
    metrics_.coverage->Set(coverage_ema_);
    metrics_.version->Set(static_cast<double>(version_));
    for (const ParameterEstimate& p : latest_->parameters) {
      options_.metrics->Parameter(options_.model, p.name).Set(p.value);
    }
  } else {
    outcome.status = step.status();
    metrics_.failed->Increment();
    metrics_.rollbacks->Increment(static_cast<double>(calibrator_->rollbacks() - rollbacks_before));
  }
  outcome.parameters = latest_->parameters;
  outcome.version = latest_->version;
  metrics_.step_duration->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return outcome;
}

}  // namespace hybrid::server
