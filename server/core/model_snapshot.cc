#include "server/core/model_snapshot.h"

#include <ATen/ATen.h>

namespace hybrid::server {

std::vector<ParameterEstimate> EstimateParameters(const solvers::HybridModel& model) {
  at::NoGradGuard no_grad;
  const solvers::ScientificModel& physics = model.physics();
  std::vector<ParameterEstimate> out;
  for (size_t i = 0; i < physics.specs().size(); ++i) {
    const at::Tensor values = physics.Value(i).to(at::kDouble);
    ParameterEstimate p;
    p.name = physics.specs()[i].name;
    p.unit = physics.specs()[i].unit;
    p.value = values.mean().item<double>();
    p.std = values.numel() > 1 ? values.std(/*unbiased=*/true).item<double>() : 0.0;
    p.trainable = physics.IsTrainable(i);
    out.push_back(std::move(p));
  }
  return out;
}

std::shared_ptr<const solvers::HybridModel> ModelSnapshot::WithMembers(int64_t members) const {
  if (members == model->members()) return model;
  absl::MutexLock lock(&subsets_->mu);
  std::shared_ptr<const solvers::HybridModel>& subset = subsets_->by_size[members];
  if (subset == nullptr) subset = model->FirstMembers(members);
  return subset;
}

std::shared_ptr<const ModelSnapshot> ModelSnapshot::WithEntities(
    EntityTable table, const std::array<double, kLeadBuckets>& log_scales) const {
  auto snapshot = std::make_shared<ModelSnapshot>();
  snapshot->version = version;
  snapshot->observations_accepted = observations_accepted;
  snapshot->model = model;
  snapshot->errors = errors;
  snapshot->parameters = parameters;
  snapshot->entities = std::move(table);
  snapshot->entity_log_scales = log_scales;
  snapshot->subsets_ = subsets_;
  return snapshot;
}

std::shared_ptr<const ModelSnapshot> TakeSnapshot(const solvers::OnlineCalibrator& calibrator, uint64_t version,
                                                  uint64_t observations_accepted, const EntityTable& entities,
                                                  const std::array<double, kLeadBuckets>& entity_log_scales) {
  auto snapshot = std::make_shared<ModelSnapshot>();
  snapshot->version = version;
  snapshot->observations_accepted = observations_accepted;
  snapshot->model = calibrator.model().Clone();
  snapshot->errors = std::make_shared<const solvers::ForecastErrorModel>(calibrator.errors());
  snapshot->parameters = EstimateParameters(calibrator.model());
  snapshot->entities = entities;
  snapshot->entity_log_scales = entity_log_scales;
  return snapshot;
}

}  // namespace hybrid::server
