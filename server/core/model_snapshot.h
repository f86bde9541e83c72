// ModelSnapshot: an immutable copy of a model's state that Predict reads.
//
// Published by the model's calibration worker after every accepted update and
// held through shared_ptr<const ModelSnapshot>, so an in-flight Predict keeps
// its snapshot alive while newer ones are published. Never mutated after
// TakeSnapshot returns, hence safe to read from any number of threads.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/core/domain_types.h"
#include "server/core/entities/entity_table.h"
#include "server/core/entities/lead_buckets.h"
#include "solvers/calibration/online_calibrator.h"
#include "solvers/hybrid/hybrid_model.h"
#include "solvers/uncertainty/forecast_error_model.h"

namespace hybrid::server {

struct ModelSnapshot {
  uint64_t version = 0;
  uint64_t observations_accepted = 0;
  std::shared_ptr<const solvers::HybridModel> model;
  std::shared_ptr<const solvers::ForecastErrorModel> errors;  // What its forecasts miss.
  std::vector<ParameterEstimate> parameters;
  EntityTable entities;  // As of this snapshot (copy-on-write: entity_table.h).
  // The entity forecasts' interval correction per lead bucket (entity_filter.h).
  std::array<double, kLeadBuckets> entity_log_scales{};

  // `model` restricted to its first `members` members (1 ≤ members ≤ M; M:
  // `model` itself), for a Predict that asks for a smaller ensemble. Built on
  // first use and kept with the version (snapshots that differ only in their
  // entities share them), so a version pays for each size once. Thread-safe;
  // the lock is held only by Predicts of this version.
  std::shared_ptr<const solvers::HybridModel> WithMembers(int64_t members) const;

  // This snapshot with another entity table: what the worker publishes after
  // reports, sharing the model, its error model and member subsets (no copy).
  std::shared_ptr<const ModelSnapshot> WithEntities(EntityTable table,
                                                    const std::array<double, kLeadBuckets>& log_scales) const;

 private:
  struct Subsets {
    absl::Mutex mu;
    std::map<int64_t, std::shared_ptr<const solvers::HybridModel>> by_size ABSL_GUARDED_BY(mu);
  };
  std::shared_ptr<Subsets> subsets_ = std::make_shared<Subsets>();
};

// Mean and spread over members of every physical parameter of `model`.
std::vector<ParameterEstimate> EstimateParameters(const solvers::HybridModel& model);

// Deep-copies the calibrator's model and noise estimate; shares `entities`.
std::shared_ptr<const ModelSnapshot> TakeSnapshot(const solvers::OnlineCalibrator& calibrator, uint64_t version,
                                                  uint64_t observations_accepted, const EntityTable& entities,
                                                  const std::array<double, kLeadBuckets>& entity_log_scales);

}  // namespace hybrid::server
