// Metrics: the Prometheus catalog of hybridserve (prefix `hybrid_`), one
// registry per server. docs/metrics.md is the catalog (a test keeps it true).
//
//   Metrics metrics;
//   metrics.RecordRequest("lorenz63", "Predict", "OK", 0.004);
//   ModelMetrics& m = metrics.ForModel("lorenz63", /*coverage_level=*/0.9);
//   m.version->Set(12);
//
// Thread-safe: prometheus-cpp metrics are atomic, and ForModel / parameter
// lookups lock. Returned references live as long as the Metrics object.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/core/entities/lead_buckets.h"

namespace hybrid::server {

// Per-model series, resolved once so the calibration loop does no map lookups.
struct ModelMetrics {
  prometheus::Gauge* version = nullptr;
  prometheus::Gauge* loss = nullptr;
  prometheus::Gauge* coverage = nullptr;
  prometheus::Gauge* queue_depth = nullptr;
  prometheus::Counter* updates = nullptr;
  prometheus::Counter* accepted = nullptr;
  prometheus::Counter* rejected = nullptr;
  prometheus::Counter* failed = nullptr;
  prometheus::Counter* reverted_updates = nullptr;
  prometheus::Histogram* step_duration = nullptr;
  prometheus::Gauge* wal_bytes = nullptr;
  prometheus::Counter* wal_syncs = nullptr;           // fdatasync calls of the model's log (group commits).
  prometheus::Counter* wal_sync_seconds = nullptr;    // Their wall time.
  prometheus::Gauge* checkpoint_timestamp = nullptr;  // 0 until the first checkpoint.
  prometheus::Gauge* last_observation = nullptr;      // Unix time; 0 until the first observation.
  prometheus::Gauge* calibrate_streams = nullptr;
  prometheus::Gauge* coverage_target = nullptr;
  prometheus::Gauge* entities = nullptr;
  prometheus::Counter* reports_accepted = nullptr;
  prometheus::Counter* reports_refused = nullptr;  // Unlogged: a time before the clock, a full model, a gap too long.
  prometheus::Counter* reports_failed = nullptr;   // Logged but not applied (non-finite forecast or analysis).
  prometheus::Counter* reports_duplicate = nullptr;  // Redeliveries of applied reports: answered OK, not applied.
  prometheus::Histogram* assimilation_duration = nullptr;
};

class Metrics {
 public:
  Metrics();

  // What an Exposer serves: the registry, plus the series computed at scrape
  // time (hybrid_checkpoint_age_seconds).
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables() const;

  // One finished RPC: counts hybrid_requests_total{model,rpc,code} and observes
  // hybrid_request_duration_seconds{model,rpc}. `model` may be empty (ListModels).
  void RecordRequest(absl::string_view model, absl::string_view rpc, absl::string_view code, double seconds);

  // Series of one model; the coverage gauge is labelled with `coverage_level`
  // and hybrid_interval_coverage_target_ratio set to it.
  ModelMetrics& ForModel(const std::string& model, double coverage_level);
  // hybrid_online_crps and hybrid_online_coverage_ratio of one lead bucket
  // (lead_buckets.h); a bucket's series exist once it has been scored.
  void SetOnlineSkill(const std::string& model, double coverage_level, size_t bucket, double crps, double coverage);
  // hybrid_parameter_value and hybrid_parameter_spread: mean and spread over members.
  void SetParameter(const std::string& model, const std::string& param, double value, double spread);
  // What dashboards draw an estimate against: the value calibration started
  // from and, where the config knows one, the reference (true) value.
  void SetParameterReferences(const std::string& model, const std::string& param, double initial,
                              std::optional<double> reference);
  // hybrid_model_state{model,state}: 1 for `state` (a ModelStateName), 0 for the others.
  void SetModelState(const std::string& model, absl::string_view state);

 private:
  class CheckpointAges;

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& request_duration_;
  prometheus::Family<prometheus::Gauge>& version_;
  prometheus::Family<prometheus::Gauge>& loss_;
  prometheus::Family<prometheus::Gauge>& coverage_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Family<prometheus::Gauge>& parameter_;
  prometheus::Family<prometheus::Counter>& updates_;
  prometheus::Family<prometheus::Counter>& observations_;
  prometheus::Family<prometheus::Counter>& reverted_updates_;
  prometheus::Family<prometheus::Histogram>& step_duration_;
  prometheus::Family<prometheus::Gauge>& wal_bytes_;
  prometheus::Family<prometheus::Counter>& wal_syncs_;
  prometheus::Family<prometheus::Counter>& wal_sync_seconds_;
  prometheus::Family<prometheus::Gauge>& checkpoint_timestamp_;
  prometheus::Family<prometheus::Gauge>& last_observation_;
  prometheus::Family<prometheus::Gauge>& calibrate_streams_;
  prometheus::Family<prometheus::Gauge>& coverage_target_;
  prometheus::Family<prometheus::Gauge>& parameter_spread_;
  prometheus::Family<prometheus::Gauge>& parameter_initial_;
  prometheus::Family<prometheus::Gauge>& parameter_reference_;
  prometheus::Family<prometheus::Gauge>& model_state_;
  prometheus::Family<prometheus::Gauge>& entities_;
  prometheus::Family<prometheus::Counter>& reports_;
  prometheus::Family<prometheus::Histogram>& assimilation_duration_;
  prometheus::Family<prometheus::Gauge>& online_crps_;
  prometheus::Family<prometheus::Gauge>& online_coverage_;
  std::shared_ptr<CheckpointAges> checkpoint_ages_;

  mutable absl::Mutex mu_;  // Also taken by CheckpointAges at scrape time.
  std::map<std::string, ModelMetrics> models_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hybrid::server
