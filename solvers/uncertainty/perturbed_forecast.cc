#include "solvers/uncertainty/perturbed_forecast.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <optional>

#include "solvers/hybrid/trajectory_rollout.h"
#include "solvers/integrate/butcher_tableau.h"
#include "solvers/integrate/rate_forced_field.h"

namespace hybrid::solvers {
namespace {

// The field's own fixed step (RK4, or its discrete step) followed by the
// model-error forcing. One per forecast: it owns the generator its draws come from.
class StochasticForcing : public VectorField {
 public:
  StochasticForcing(const VectorField& field, at::Tensor rate, at::Generator generator, at::Tensor floor)
      : field_(field), rate_(std::move(rate)), generator_(std::move(generator)), floor_(std::move(floor)) {}

  at::Tensor Evaluate(double t, const at::Tensor& x) const override { return field_.Evaluate(t, x); }
  bool HasDiscreteStep() const override { return true; }
  at::Tensor DiscreteStep(double t, const at::Tensor& x, double h) const override {
    return RaiseToFloor(IntegrateFixed(ClassicRk4(), field_, x, t, h, 1) +
                            (rate_ * h).sqrt() * at::randn(x.sizes(), generator_, x.options()),
                        floor_);
  }

 private:
  const VectorField& field_;
  const at::Tensor rate_;
  mutable at::Generator generator_;
  const at::Tensor floor_;  // NonNegativeFloor: the forcing keeps amounts ≥ 0.
};

// K perturbed copies of the rows of x [B, D] (or of each member's, [M, B, D]):
// [K·B, D] ([M, K·B, D]), row k·B + b; non-negative components stay ≥ 0
// (an empty depot's draws are 0 or more, not ± its noise).
at::Tensor PerturbedStarts(const at::Tensor& x, const at::Tensor& std, int64_t k, at::Generator& generator,
                           const at::Tensor& floor) {
  const at::Tensor copies = x.dim() == 3 ? x.repeat({1, k, 1}) : x.repeat({k, 1});
  if (!AnyPositive(std)) return copies;
  return RaiseToFloor(copies + std.to(x.scalar_type()) * at::randn(copies.sizes(), generator, x.options()), floor);
}

}  // namespace

bool AnyPositive(const at::Tensor& t) { return t.defined() && (t > 0).any().item<bool>(); }

absl::StatusOr<at::Tensor> ForecastSamples(const HybridModel& model, const at::Tensor& x0,
                                           absl::Span<const double> times, const SolverOptions& solver,
                                           const SampleOptions& o) {
  const bool forcing = AnyPositive(o.model_error_rate);
  const int64_t k = forcing || AnyPositive(o.initial_std) ? std::max<int64_t>(1, o.per_member) : 1;
  at::Generator generator = at::detail::createCPUGenerator(o.seed);
  const int64_t m = model.members(), b = x0.size(-2), d = x0.size(-1);
  const at::Tensor floor = NonNegativeFloor(model.physics().Components(), x0.options());  // Once per forecast.
  const at::Tensor perturbed = PerturbedStarts(x0, o.initial_std, k, generator, floor);
  const at::Tensor starts = x0.dim() == 3 ? perturbed : perturbed.unsqueeze(0).expand({m, k * b, d});
  std::optional<RateForcedField> infused;
  if (o.rate.defined()) infused.emplace(model, o.rate.to(x0.scalar_type()));
  const VectorField& field = infused ? static_cast<const VectorField&>(*infused) : model;
  absl::StatusOr<Trajectory> solved =
      forcing ? SolveOde(StochasticForcing(field, o.model_error_rate.to(x0.scalar_type()), generator, floor), starts,
                         0.0, times, solver)
              : SolveOde(field, starts, 0.0, times, solver);
  if (!solved.ok()) return solved.status();
  const int64_t t = solved->states.size(0);
  // [T, M, K·B, D] → [M, K, T, B, D] → [M·K, T, B, D].
  return solved->states.view({t, m, k, b, d}).permute({1, 2, 0, 3, 4}).reshape({m * k, t, b, d});
}

at::Tensor WindowSamples(const HybridModel& model, const at::Tensor& start, double step, int64_t steps,
                         const at::Tensor& start_std, int64_t per_member, at::Generator& generator) {
  const int64_t k = AnyPositive(start_std) ? std::max<int64_t>(1, per_member) : 1;
  const int64_t m = model.members(), w = start.size(0), d = start.size(1);
  const at::Tensor path = ForecastPath(
      model,
      PerturbedStarts(start, start_std, k, generator, NonNegativeFloor(model.physics().Components(), start.options())),
      step, steps);
  return path.view({m, k, w, steps, d}).reshape({m * k, w, steps, d});  // [M, K·W, n, D] → [M·K, W, n, D]
}

}  // namespace hybrid::solvers
