#include "solvers/training/hybrid_objective.h"

#include <ATen/ATen.h>

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "solvers/hybrid/trajectory_rollout.h"

namespace hybrid::solvers {
namespace {

absl::Status CheckNonNegative(double value, const std::string& field) {
  if (!(value >= 0.0) || !std::isfinite(value)) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be a finite value ≥ 0, got ", value));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<HybridObjective> HybridObjective::Create(const HybridModel& model, const ObjectiveOptions& options) {
  for (const auto& [value, field] : {std::pair{options.correction_penalty, "objective.correction_penalty"},
                                     std::pair{options.lambda_tau, "objective.lambda_tau"},
                                     std::pair{options.physics_residual_weight, "objective.physics_residual_weight"},
                                     std::pair{options.prior_weight, "objective.prior_weight"}}) {
    if (absl::Status s = CheckNonNegative(value, field); !s.ok()) return s;
  }
  if (!(options.lambda_initial > 0.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("objective.lambda_initial must be > 0, got ", options.lambda_initial));
  }
  std::vector<size_t> index;
  const std::vector<ParameterSpec>& specs = model.physics().specs();
  for (size_t p = 0; p < options.priors.size(); ++p) {
    const ParameterPrior& prior = options.priors[p];
    size_t i = 0;
    while (i < specs.size() && specs[i].name != prior.name) ++i;
    if (i == specs.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("objective.priors[", p, "].name: unknown parameter '", prior.name, "'"));
    }
    if (!(prior.std > 0.0) || !std::isfinite(prior.mean)) {
      return absl::InvalidArgumentError(
          absl::StrCat("objective.priors[", p, "]: std must be > 0 and mean finite (", prior.name, ")"));
    }
    index.push_back(i);
  }
  return HybridObjective(options, std::move(index));
}

ObjectiveTerms HybridObjective::Evaluate(const HybridModel& model, const at::Tensor& x0, const at::Tensor& y,
                                         double dt, int64_t substeps) const {
  ObjectiveTerms terms;
  const at::Tensor forecast = RolloutTrajectory(model, x0, dt, y.size(2), substeps);
  at::Tensor data;
  if (model.has_noise_head()) {
    const at::Tensor log_var = model.LogVariance(forecast.flatten(1, 2)).view_as(forecast);
    data = 0.5 * (log_var + (forecast - y).pow(2) * at::exp(-log_var)).mean();
  } else {
    data = (forecast - y).pow(2).mean();
  }
  terms.data = data.item<double>();
  at::Tensor total = (options_.adaptive_weight ? lambda_ : 1.0) * data;

  if (options_.correction_penalty > 0.0 && model.has_correction()) {
    const at::Tensor states = at::cat({x0.unsqueeze(2), forecast}, 2).flatten(1, 2);  // [M, B·(L+1), D]
    const at::Tensor g2 = model.Correction(states).pow(2).sum(-1).mean();
    terms.correction = g2.item<double>();
    total = total + options_.correction_penalty * g2;
  }
  if (options_.physics_residual_weight > 0.0) {
    const at::Tensor observed = at::cat({x0.unsqueeze(2), y}, 2);  // [M, B, L+1, D]
    const int64_t l = y.size(2);
    const at::Tensor before = observed.narrow(2, 0, l);
    const at::Tensor after = observed.narrow(2, 1, l);
    const at::Tensor rate = (after - before) / dt;
    const at::Tensor f = model.Physics((0.5 * (before + after)).flatten(1, 2)).view_as(rate);
    const at::Tensor r2 = (rate - f).pow(2).sum(-1).mean();
    terms.physics_residual = r2.item<double>();
    total = total + options_.physics_residual_weight * r2;
  }
  if (!prior_index_.empty() && options_.prior_weight > 0.0) {
    at::Tensor prior = at::zeros({}, total.options());
    for (size_t p = 0; p < prior_index_.size(); ++p) {
      const ParameterPrior& spec = options_.priors[p];
      prior = prior + ((model.physics().Value(prior_index_[p]) - spec.mean) / spec.std).pow(2).mean();
    }
    terms.prior = prior.item<double>();
    total = total + options_.prior_weight * prior;
  }
  terms.total = total;
  return terms;
}

void HybridObjective::AfterStep(const ObjectiveTerms& terms) {
  if (options_.adaptive_weight) lambda_ += options_.lambda_tau * terms.data;
}

}  // namespace hybrid::solvers
