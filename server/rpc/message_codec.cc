#include "server/rpc/message_codec.h"

#include <cmath>
#include <optional>

#include "absl/strings/str_cat.h"
#include "base/checked_arithmetic.h"
#include "base/model_name.h"
#include "server/rpc/status_conversion.h"
#include "server/rpc/tensor_codec.h"

namespace hybrid::server::rpc {
namespace {

// Before any model's limit is known: the largest limits.max_output_times, so
// that the times a horizon asks for are bounded before they are built.
constexpr int64_t kMaxGridPoints = 1'000'000;  // Before any model limit: bounds the allocation.

absl::StatusOr<std::vector<double>> HorizonTimes(const v1::Horizon& h) {
  if (!(h.horizon() > 0.0) || !std::isfinite(h.horizon())) {
    return absl::InvalidArgumentError(absl::StrCat("horizon.horizon must be finite and > 0, got ", h.horizon()));
  }
  if (!(h.step() > 0.0) || !std::isfinite(h.step())) {
    return absl::InvalidArgumentError(absl::StrCat("horizon.step must be finite and > 0, got ", h.step()));
  }
  const double ratio = h.horizon() / h.step() * (1.0 + 1e-9);
  const std::optional<int64_t> count = base::FloorToCount(ratio);
  if (!count || *count > kMaxGridPoints) {
    return absl::OutOfRangeError(absl::StrCat("horizon.horizon / horizon.step gives ", ratio, " output times"));
  }
  if (*count < 1) return absl::InvalidArgumentError("horizon.step must not exceed horizon.horizon");
  std::vector<double> times;
  times.reserve(static_cast<size_t>(*count));
  for (int64_t k = 1; k <= *count; ++k) times.push_back(static_cast<double>(k) * h.step());
  return times;
}

}  // namespace

absl::StatusOr<PredictQuery> DecodePredictRequest(const v1::PredictRequest& request) {
  PredictQuery q;
  q.model = request.model();
  if (absl::Status s = base::ValidateModelName(q.model, "model"); !s.ok()) return s;
  q.entity = request.entity();
  if (!q.entity.empty()) {
    if (absl::Status s = base::ValidateEntityName(q.entity, "entity"); !s.ok()) return s;
  } else if (!request.has_initial_state()) {
    return absl::InvalidArgumentError("initial_state (or entity) must be set");
  }
  if (request.has_initial_state()) {
    absl::StatusOr<DenseArray> x0 = DecodeTensor(request.initial_state(), "initial_state");
    if (!x0.ok()) return x0.status();
    q.initial_state = *std::move(x0);
  }
  switch (request.output_case()) {
    case v1::PredictRequest::kHorizon: {
      absl::StatusOr<std::vector<double>> times = HorizonTimes(request.horizon());
      if (!times.ok()) return times.status();
      q.times = *std::move(times);
      break;
    }
    case v1::PredictRequest::kOutputTimes:
      q.times.assign(request.output_times().times().begin(), request.output_times().times().end());
      if (q.times.empty()) return absl::InvalidArgumentError("output_times.times must not be empty");
      break;
    default:
      return absl::InvalidArgumentError("one of horizon or output_times must be set");
  }
  q.max_step = request.max_step() == 0.0 ? 0.01 : request.max_step();
  q.levels.assign(request.interval_levels().begin(), request.interval_levels().end());
  if (request.ensemble_size() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("ensemble_size must be >= 0 (0: all members), got ", request.ensemble_size()));
  }
  q.ensemble_size = request.ensemble_size();
  if (request.has_model_version()) q.version = request.model_version();
  q.initial_state_std.assign(request.initial_state_std().begin(), request.initial_state_std().end());
  q.include_observation_noise = request.include_observation_noise();
  for (int i = 0; i < request.planned_inputs_size(); ++i) {
    const v1::PlannedInput& in = request.planned_inputs(i);
    if (!(in.time() >= 0.0) || !std::isfinite(in.time())) {
      return absl::InvalidArgumentError(
          absl::StrCat("planned_inputs[", i, "].time must be finite and ≥ 0 (a lead time), got ", in.time()));
    }
    if (!std::isfinite(in.value())) {
      return absl::InvalidArgumentError(absl::StrCat("planned_inputs[", i, "].value must be finite, got ", in.value()));
    }
    q.planned_inputs.push_back({in.time(), in.input(), in.value()});
  }
  return q;
}

v1::PredictResponse EncodePredictAnswer(const PredictAnswer& a) {
  v1::PredictResponse r;
  r.set_model(a.model);
  r.set_model_version(a.version);
  r.set_ensemble_size(static_cast<int32_t>(a.ensemble_size));
  r.set_start_time(a.start_time);
  EncodeComponents(a.components, r.mutable_state_components());
  r.mutable_times()->Add(a.times.begin(), a.times.end());
  *r.mutable_mean() = EncodeTensor(a.mean);
  *r.mutable_std() = EncodeTensor(a.std);
  for (const IntervalArrays& i : a.intervals) {
    v1::Interval* out = r.add_intervals();
    out->set_level(i.level);
    *out->mutable_lower() = EncodeTensor(i.lower);
    *out->mutable_upper() = EncodeTensor(i.upper);
  }
  return r;
}

absl::StatusOr<Observation> DecodeCalibrateRequest(const v1::CalibrateRequest& request) {
  Observation o;
  o.model = request.model();
  o.sequence = request.sequence();
  if (absl::Status s = base::ValidateModelName(o.model, "model"); !s.ok()) return s;
  if (!request.has_start_state()) return absl::InvalidArgumentError("start_state must be set");
  if (!request.has_end_state()) return absl::InvalidArgumentError("end_state must be set");
  absl::StatusOr<DenseArray> start = DecodeTensor(request.start_state(), "start_state");
  if (!start.ok()) return start.status();
  absl::StatusOr<DenseArray> end = DecodeTensor(request.end_state(), "end_state");
  if (!end.ok()) return end.status();
  o.start = *std::move(start);
  o.end = *std::move(end);
  if (request.has_mask()) {
    absl::StatusOr<DenseArray> mask = DecodeTensor(request.mask(), "mask");
    if (!mask.ok()) return mask.status();
    o.mask = *std::move(mask);
  }
  if (request.has_path()) {
    absl::StatusOr<DenseArray> path = DecodeTensor(request.path(), "path");
    if (!path.ok()) return path.status();
    o.path = *std::move(path);
  }
  o.step = request.step();
  o.steps = request.steps();
  return o;
}

void EncodeParameters(const std::vector<ParameterEstimate>& parameters,
                      google::protobuf::RepeatedPtrField<v1::ParameterEstimate>* out) {
  for (const ParameterEstimate& p : parameters) {
    v1::ParameterEstimate* e = out->Add();
    e->set_name(p.name);
    e->set_value(p.value);
    e->set_std(p.std);
    e->set_unit(p.unit);
    e->set_trainable(p.trainable);
  }
}

void EncodeComponents(const std::vector<ComponentInfo>& components,
                      google::protobuf::RepeatedPtrField<v1::StateComponent>* out) {
  for (const ComponentInfo& c : components) {
    v1::StateComponent* e = out->Add();
    e->set_name(c.name);
    e->set_unit(c.unit);
  }
}

ReportBatch DecodeObserveRequest(const v1::ObserveRequest& request) {
  ReportBatch batch;
  batch.model = request.model();
  batch.reports.reserve(static_cast<size_t>(request.reports_size()));
  for (const v1::Report& in : request.reports()) {
    Report& report = batch.reports.emplace_back();
    report.entity = in.entity();
    report.time = in.time();
    for (const v1::Reading& r : in.readings()) {
      report.readings.push_back(
          {r.observable(), r.value(), r.has_noise_std() ? std::optional<double>(r.noise_std()) : std::nullopt});
    }
    for (const v1::InputEvent& e : in.inputs()) report.inputs.push_back({e.input(), e.value()});
  }
  return batch;
}

void EncodeReportOutcome(const ReportOutcome& o, v1::ReportOutcome* out) {
  out->mutable_status()->set_code(static_cast<int>(o.status.code()));
  out->mutable_status()->set_message(TruncatedMessage(o.status));
  out->set_created(o.created);
  out->set_lead(o.lead);
  if (o.crps) out->set_crps(*o.crps);
  if (o.coverage) out->set_coverage(*o.coverage);
  out->set_entity_reports(o.entity_reports);
  out->set_duplicate(o.duplicate);
}

void EncodeEntitySummary(const EntitySummary& e, v1::EntitySummary* out) {
  out->set_entity(e.name);
  out->set_time(e.time);
  out->set_reports(e.reports);
}

v1::CalibrateResponse EncodeOutcome(const ObservationOutcome& o) {
  v1::CalibrateResponse r = EncodeRejection(o.sequence, o.status);
  r.set_loss(o.loss);
  r.set_coverage(o.coverage);
  r.set_coverage_level(o.coverage_level);
  r.set_gradient_norm(o.gradient_norm);
  EncodeParameters(o.parameters, r.mutable_parameters());
  r.set_model_version(o.version);
  return r;
}

v1::CalibrateResponse EncodeRejection(uint64_t sequence, const absl::Status& status) {
  v1::CalibrateResponse r;
  r.set_sequence(sequence);
  r.mutable_status()->set_code(static_cast<int>(status.code()));
  r.mutable_status()->set_message(TruncatedMessage(status));
  return r;
}

}  // namespace hybrid::server::rpc
