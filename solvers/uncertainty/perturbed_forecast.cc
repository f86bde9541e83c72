#include "solvers/uncertainty/perturbed_forecast.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <optional>
#include <vector>

#include "solvers/hybrid/trajectory_rollout.h"
#include "solvers/integrate/butcher_tableau.h"
#include "solvers/integrate/rate_forced_field.h"

namespace hybrid::solvers {
namespace {

// The field's own fixed step (RK4, or its discrete step) followed by the
// model-error forcing. One per solve: it owns the generators its draws come
// from, one per forecast solved together, forecast r drawing the noise of its
// own `rows[r]` rows of x [M, N, D] so that it sees the draws it would alone.
class StochasticForcing : public VectorField {
 public:
  StochasticForcing(const VectorField& field, at::Tensor rate, std::vector<at::Generator> generators,
                    std::vector<int64_t> rows, at::Tensor floor)
      : field_(field),
        rate_(std::move(rate)),
        generators_(std::move(generators)),
        rows_(std::move(rows)),
        floor_(std::move(floor)) {}

  at::Tensor Evaluate(double t, const at::Tensor& x) const override { return field_.Evaluate(t, x); }
  bool HasDiscreteStep() const override { return true; }
  at::Tensor DiscreteStep(double t, const at::Tensor& x, double h) const override {
    return RaiseToFloor(IntegrateFixed(ClassicRk4(), field_, x, t, h, 1) + (rate_ * h).sqrt() * Noise(x), floor_);
  }

 private:
  at::Tensor Noise(const at::Tensor& x) const {
    if (generators_.size() == 1) return at::randn(x.sizes(), generators_[0], x.options());
    std::vector<at::Tensor> parts;
    parts.reserve(generators_.size());
    for (size_t r = 0; r < generators_.size(); ++r) {
      parts.push_back(at::randn({x.size(0), rows_[r], x.size(2)}, generators_[r], x.options()));
    }
    return at::cat(parts, 1);
  }

  const VectorField& field_;
  const at::Tensor rate_;
  mutable std::vector<at::Generator> generators_;
  const std::vector<int64_t> rows_;
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

absl::StatusOr<std::vector<at::Tensor>> ForecastSamplesTogether(const HybridModel& model,
                                                                absl::Span<const at::Tensor> x0s,
                                                                absl::Span<const double> times,
                                                                const SolverOptions& solver, const SampleOptions& o) {
  TORCH_CHECK(!x0s.empty(), "ForecastSamplesTogether: no forecast");
  const bool forcing = AnyPositive(o.model_error_rate);
  const int64_t k = forcing || AnyPositive(o.initial_std) ? std::max<int64_t>(1, o.per_member) : 1;
  const int64_t m = model.members(), d = x0s.front().size(-1);
  const bool own_starts = x0s.front().dim() == 3;
  TORCH_CHECK(!own_starts || x0s.size() == 1, "ForecastSamplesTogether: member starts [M, B, D] forecast alone");
  const at::Tensor floor = NonNegativeFloor(model.physics().Components(), x0s.front().options());  // Once per solve.
  std::vector<at::Generator> generators;
  std::vector<at::Tensor> perturbed;
  std::vector<int64_t> rows;  // K·B_r: forecast r's rows of every member.
  for (const at::Tensor& x0 : x0s) {
    generators.push_back(at::detail::createCPUGenerator(o.seed));
    perturbed.push_back(PerturbedStarts(x0, o.initial_std, k, generators.back(), floor));
    rows.push_back(k * x0.size(-2));
  }
  const at::Tensor all = perturbed.size() == 1 ? perturbed.front() : at::cat(perturbed, 0);
  const at::Tensor starts = own_starts ? all : all.unsqueeze(0).expand({m, all.size(0), d});
  std::optional<RateForcedField> infused;
  if (o.rate.defined()) infused.emplace(model, o.rate.to(starts.scalar_type()));
  const VectorField& field = infused ? static_cast<const VectorField&>(*infused) : model;
  absl::StatusOr<Trajectory> solved =
      forcing ? SolveOde(StochasticForcing(field, o.model_error_rate.to(starts.scalar_type()), std::move(generators),
                                           rows, floor),
                         starts, 0.0, times, solver)
              : SolveOde(field, starts, 0.0, times, solver);
  if (!solved.ok()) return solved.status();
  const int64_t t = solved->states.size(0);
  std::vector<at::Tensor> out;
  int64_t offset = 0;
  for (size_t r = 0; r < x0s.size(); ++r) {
    const int64_t b = x0s[r].size(-2);
    // [T, M, K·B, D] → [M, K, T, B, D] → [M·K, T, B, D].
    out.push_back(solved->states.narrow(2, offset, rows[r])
                      .reshape({t, m, k, b, d})
                      .permute({1, 2, 0, 3, 4})
                      .reshape({m * k, t, b, d}));
    offset += rows[r];
  }
  return out;
}

absl::StatusOr<at::Tensor> ForecastSamples(const HybridModel& model, const at::Tensor& x0,
                                           absl::Span<const double> times, const SolverOptions& solver,
                                           const SampleOptions& o) {
  absl::StatusOr<std::vector<at::Tensor>> one = ForecastSamplesTogether(model, {x0}, times, solver, o);
  if (!one.ok()) return one.status();
  return std::move(one->front());
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
