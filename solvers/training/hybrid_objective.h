// The training objective of a hybrid model on a batch of trajectory windows
// (docs/hybrid_modelling.md, "Joint objective"):
//
//   total = w·data + λ_g·‖g‖² + λ_r·physics_residual + λ_p·prior
//
//   data             mean (x̂ − y)² over members, windows, times, components; or,
//                    with a heteroscedastic head, the Gaussian NLL
//                    mean ½[log σ²(x̂) + (x̂ − y)²/σ²(x̂)] (constant dropped)
//   ‖g‖²             mean over members, windows and times (start + forecast
//                    states) of the squared norm of the network's contribution
//                    to dx/dt (APHYNITY's minimal-correction penalty)
//   physics_residual PINN-style: mean ‖(y_{k+1} − y_k)/dt − f((y_k + y_{k+1})/2; θ)‖²
//                    on the observed states (the physics alone should explain
//                    the observed rates; Takeishi & Kalousis 2023)
//   prior            Σ over priors of mean over members ((θ − mean)/std)²
//
// The data weight w is 1, or with `adaptive_weight` APHYNITY's λ: total =
// λ·data + ‖g‖²-term…, and after every step λ ← λ + τ·data (so the data term
// wins over time while the penalty keeps g minimal).
//
//   HybridObjective objective = HybridObjective::Create(model, options).value();
//   ObjectiveTerms terms = objective.Evaluate(model, x0, y, dt, substeps);
//   terms.total.backward(); … ; objective.AfterStep(terms);
//
// Not thread-safe (λ is state).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "solvers/hybrid/hybrid_model.h"

namespace hybrid::solvers {

struct ParameterPrior {
  std::string name;  // A physical parameter of the model.
  double mean = 0.0;
  double std = 1.0;  // > 0, in the parameter's unit.
};

struct ObjectiveOptions {
  double correction_penalty = 0.0;  // λ_g ≥ 0.
  bool adaptive_weight = false;     // APHYNITY's λ on the data term.
  double lambda_initial = 1.0;      // λ₀ > 0.
  double lambda_tau = 1.0;          // τ₂ ≥ 0.
  double physics_residual_weight = 0.0;  // λ_r ≥ 0.
  double prior_weight = 1.0;             // λ_p ≥ 0.
  std::vector<ParameterPrior> priors;
};

struct ObjectiveTerms {
  at::Tensor total;  // Differentiable scalar.
  double data = 0.0;
  double correction = 0.0;
  double physics_residual = 0.0;
  double prior = 0.0;
};

class HybridObjective {
 public:
  // INVALID_ARGUMENT naming the field for negative weights, λ₀ ≤ 0, unknown
  // prior names or std ≤ 0.
  static absl::StatusOr<HybridObjective> Create(const HybridModel& model, const ObjectiveOptions& options);

  // x0 [M, B, D]; y [M, B, L, D] the observations at dt, …, L·dt after x0.
  ObjectiveTerms Evaluate(const HybridModel& model, const at::Tensor& x0, const at::Tensor& y, double dt,
                          int64_t substeps) const;
  void AfterStep(const ObjectiveTerms& terms);
  double lambda() const { return lambda_; }

 private:
  HybridObjective(ObjectiveOptions options, std::vector<size_t> prior_index)
      : options_(std::move(options)), prior_index_(std::move(prior_index)), lambda_(options_.lambda_initial) {}

  ObjectiveOptions options_;
  std::vector<size_t> prior_index_;  // Parameter index of each prior.
  double lambda_;
};

}  // namespace hybrid::solvers
