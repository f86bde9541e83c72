#include "server/core/metrics.h"

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>

#include <chrono>

#include "absl/strings/str_cat.h"

namespace hybrid::server {
namespace {

// Request latencies span sub-millisecond RPCs to multi-second forecasts.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return buckets;
}

// Every state a model can be in (server/core/model_registry.h ModelStateName).
constexpr const char* kModelStates[] = {"UNLOADED", "LOADING", "READY", "UNLOADING", "FAILED"};

prometheus::Family<prometheus::Gauge>& RegisterGauge(prometheus::Registry& registry, const char* name,
                                                     const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

}  // namespace

// hybrid_checkpoint_age_seconds, computed when scraped from the checkpoint
// timestamps, so that it is exact at every scrape without a timer thread.
class Metrics::CheckpointAges : public prometheus::Collectable {
 public:
  explicit CheckpointAges(const Metrics* metrics) : metrics_(metrics) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily family;
    family.name = "hybrid_checkpoint_age_seconds";
    family.help = "Seconds since the model's newest checkpoint (absent before the first)";
    family.type = prometheus::MetricType::Gauge;
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    absl::MutexLock lock(&metrics_->mu_);
    for (const auto& [model, m] : metrics_->models_) {
      const double written = m.checkpoint_timestamp->Value();
      if (written <= 0.0) continue;
      prometheus::ClientMetric sample;
      sample.label.push_back({"model", model});
      sample.gauge.value = now - written;
      family.metric.push_back(std::move(sample));
    }
    return {std::move(family)};
  }

 private:
  const Metrics* metrics_;
};

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("hybrid_requests_total")
                    .Help("Finished RPCs by model, method and gRPC status code")
                    .Register(*registry_)),
      request_duration_(prometheus::BuildHistogram()
                            .Name("hybrid_request_duration_seconds")
                            .Help("RPC latency from arrival to answer (Calibrate: stream lifetime)")
                            .Register(*registry_)),
      version_(prometheus::BuildGauge()
                   .Name("hybrid_model_version")
                   .Help("Accepted calibration updates of the served snapshot")
                   .Register(*registry_)),
      loss_(prometheus::BuildGauge()
                .Name("hybrid_calibration_loss")
                .Help("Window MSE of the last accepted observation, before its update")
                .Register(*registry_)),
      coverage_(prometheus::BuildGauge()
                    .Name("hybrid_interval_coverage_ratio")
                    .Help("Share of arriving observations inside the central interval predicted for them "
                          "(exponentially weighted, weight 0.02)")
                    .Register(*registry_)),
      queue_depth_(prometheus::BuildGauge()
                       .Name("hybrid_queue_depth")
                       .Help("Observations waiting for the model's calibration worker")
                       .Register(*registry_)),
      parameter_(prometheus::BuildGauge()
                     .Name("hybrid_parameter_value")
                     .Help("Physical parameter estimate (mean over ensemble members)")
                     .Register(*registry_)),
      updates_(prometheus::BuildCounter()
                   .Name("hybrid_calibration_updates_total")
                   .Help("Optimizer steps applied")
                   .Register(*registry_)),
      observations_(prometheus::BuildCounter()
                        .Name("hybrid_calibration_observations_total")
                        .Help("Calibration observations by outcome (accepted, rejected, failed)")
                        .Register(*registry_)),
      reverted_updates_(prometheus::BuildCounter()
                            .Name("hybrid_calibration_reverted_updates_total")
                            .Help("Updates undone by the divergence guard (non-finite, loss spike, θ out of bounds)")
                            .Register(*registry_)),
      step_duration_(prometheus::BuildHistogram()
                         .Name("hybrid_calibration_step_duration_seconds")
                         .Help("Time of one calibration update (forward, backward, step, publish)")
                         .Register(*registry_)),
      wal_bytes_(prometheus::BuildGauge()
                     .Name("hybrid_wal_bytes")
                     .Help("Size of the model's write-ahead log (segments not yet covered by a checkpoint)")
                     .Register(*registry_)),
      wal_syncs_(prometheus::BuildCounter()
                     .Name("hybrid_wal_syncs_total")
                     .Help("fdatasync calls of the model's write-ahead log (one per group of records committed)")
                     .Register(*registry_)),
      wal_sync_seconds_(prometheus::BuildCounter()
                            .Name("hybrid_wal_sync_seconds_total")
                            .Help("Wall time the model's calibration worker spent in fdatasync")
                            .Register(*registry_)),
      checkpoint_timestamp_(prometheus::BuildGauge()
                                .Name("hybrid_checkpoint_timestamp_seconds")
                                .Help("Unix time of the model's newest checkpoint (0: none yet)")
                                .Register(*registry_)),
      last_observation_(RegisterGauge(*registry_, "hybrid_last_observation_timestamp_seconds",
                                      "Unix time the model's calibration worker last took an observation (0: never)")),
      calibrate_streams_(RegisterGauge(*registry_, "hybrid_calibrate_streams", "Calibrate streams open on the model")),
      coverage_target_(
          RegisterGauge(*registry_, "hybrid_interval_coverage_target_ratio",
                        "Nominal level of the interval whose coverage is measured (the config's coverage_level)")),
      parameter_spread_(RegisterGauge(*registry_, "hybrid_parameter_spread",
                                      "Standard deviation of a parameter across ensemble members")),
      parameter_initial_(
          RegisterGauge(*registry_, "hybrid_parameter_initial",
                        "Value calibration started from (the config's initial, or the physics default)")),
      parameter_reference_(RegisterGauge(*registry_, "hybrid_parameter_reference",
                                         "Known true or literature value from the config's `reference`, where given")),
      model_state_(
          RegisterGauge(*registry_, "hybrid_model_state", "1 for the model's current state, 0 for the others")),
      entities_(RegisterGauge(*registry_, "hybrid_entities", "Entities the model tracks")),
      reports_(
          prometheus::BuildCounter()
              .Name("hybrid_entity_reports_total")
              .Help(
                  "Entity reports by outcome (accepted, refused unlogged, failed after logging, duplicate redelivery)")
              .Register(*registry_)),
      assimilation_duration_(prometheus::BuildHistogram()
                                 .Name("hybrid_assimilation_duration_seconds")
                                 .Help("Time of one entity report on the worker (log, forecast, score, analysis)")
                                 .Register(*registry_)),
      online_crps_(RegisterGauge(*registry_, "hybrid_online_crps",
                                 "CRPS of the forecasts of arriving readings by lead-time bucket (exponentially "
                                 "weighted, 0.02), in the readings' units")),
      online_coverage_(RegisterGauge(*registry_, "hybrid_online_coverage_ratio",
                                     "Share of arriving readings inside the central interval forecast for them, by "
                                     "lead-time bucket (exponentially weighted, 0.02)")),
      checkpoint_ages_(std::make_shared<CheckpointAges>(this)) {}

std::vector<std::shared_ptr<prometheus::Collectable>> Metrics::collectables() const {
  return {registry_, checkpoint_ages_};
}

void Metrics::RecordRequest(absl::string_view model, absl::string_view rpc, absl::string_view code, double seconds) {
  const std::string m(model), r(rpc);
  requests_.Add({{"model", m}, {"rpc", r}, {"code", std::string(code)}}).Increment();
  request_duration_.Add({{"model", m}, {"rpc", r}}, LatencyBuckets()).Observe(seconds);
}

ModelMetrics& Metrics::ForModel(const std::string& model, double coverage_level) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = models_.try_emplace(model);
  if (inserted) {
    ModelMetrics& m = it->second;
    m.version = &version_.Add({{"model", model}});
    m.loss = &loss_.Add({{"model", model}});
    m.coverage = &coverage_.Add({{"model", model}, {"level", absl::StrCat(coverage_level)}});
    m.queue_depth = &queue_depth_.Add({{"model", model}});
    m.updates = &updates_.Add({{"model", model}});
    m.accepted = &observations_.Add({{"model", model}, {"status", "accepted"}});
    m.rejected = &observations_.Add({{"model", model}, {"status", "rejected"}});
    m.failed = &observations_.Add({{"model", model}, {"status", "failed"}});
    m.reverted_updates = &reverted_updates_.Add({{"model", model}});
    m.step_duration = &step_duration_.Add({{"model", model}}, LatencyBuckets());
    m.wal_bytes = &wal_bytes_.Add({{"model", model}});
    m.wal_syncs = &wal_syncs_.Add({{"model", model}});
    m.wal_sync_seconds = &wal_sync_seconds_.Add({{"model", model}});
    m.checkpoint_timestamp = &checkpoint_timestamp_.Add({{"model", model}});
    m.last_observation = &last_observation_.Add({{"model", model}});
    m.calibrate_streams = &calibrate_streams_.Add({{"model", model}});
    m.coverage_target = &coverage_target_.Add({{"model", model}});
    m.coverage_target->Set(coverage_level);
    m.entities = &entities_.Add({{"model", model}});
    m.reports_accepted = &reports_.Add({{"model", model}, {"status", "accepted"}});
    m.reports_refused = &reports_.Add({{"model", model}, {"status", "refused"}});
    m.reports_failed = &reports_.Add({{"model", model}, {"status", "failed"}});
    m.reports_duplicate = &reports_.Add({{"model", model}, {"status", "duplicate"}});
    m.assimilation_duration = &assimilation_duration_.Add({{"model", model}}, LatencyBuckets());
  }
  return it->second;
}

void Metrics::SetOnlineSkill(const std::string& model, double coverage_level, size_t bucket, double crps,
                             double coverage) {
  const std::string le = LeadBucketLabel(bucket);
  online_crps_.Add({{"model", model}, {"lead_le", le}}).Set(crps);
  online_coverage_.Add({{"model", model}, {"lead_le", le}, {"level", absl::StrCat(coverage_level)}}).Set(coverage);
}

void Metrics::SetParameter(const std::string& model, const std::string& param, double value, double spread) {
  parameter_.Add({{"model", model}, {"param", param}}).Set(value);
  parameter_spread_.Add({{"model", model}, {"param", param}}).Set(spread);
}

void Metrics::SetParameterReferences(const std::string& model, const std::string& param, double initial,
                                     std::optional<double> reference) {
  parameter_initial_.Add({{"model", model}, {"param", param}}).Set(initial);
  if (reference) parameter_reference_.Add({{"model", model}, {"param", param}}).Set(*reference);
}

void Metrics::SetModelState(const std::string& model, absl::string_view state) {
  for (const char* name : kModelStates) {
    model_state_.Add({{"model", model}, {"state", name}}).Set(state == name ? 1.0 : 0.0);
  }
}

}  // namespace hybrid::server
