#include "solvers/uncertainty/perturbed_forecast.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <optional>
#include <vector>

#include "solvers/fused/fused_rk4.h"
#include "solvers/fused/step_noise.h"
#include "solvers/hybrid/trajectory_rollout.h"
#include "solvers/integrate/butcher_tableau.h"
#include "solvers/integrate/rate_forced_field.h"

namespace hybrid::solvers {
namespace {

// The field's own fixed step (RK4, or its discrete step) followed by the
// model-error forcing, drawn by counter (step_noise.h): draw (step, member,
// row) is the same however the solve is cut into calls and whichever
// forecasts share the batch, row r being `rows[r]` of its own forecast. Where
// the model runs RK4 fused (`fused`), whole stretches of steps run in one
// kernel call with the forcing inside. One per solve: it counts the steps.
class StochasticForcing : public VectorField {
 public:
  StochasticForcing(const VectorField& field, const HybridModel* fused, at::Tensor rate, uint64_t seed,
                    std::vector<int64_t> rows, at::Tensor floor)
      : field_(field), fused_(fused), rate_(std::move(rate)) {
    forcing_.floor = floor.defined() ? floor.contiguous() : floor;
    forcing_.seed = seed;
    forcing_.rows = std::move(rows);
  }

  at::Tensor Evaluate(double t, const at::Tensor& x) const override { return field_.Evaluate(t, x); }
  bool HasDiscreteStep() const override { return true; }
  at::Tensor DiscreteStep(double t, const at::Tensor& x, double h) const override {
    const at::Tensor stepped = IntegrateFixed(ClassicRk4(), field_, x, t, h, 1);
    return RaiseToFloor(stepped + (rate_ * h).sqrt() * Noise(x, step_++), forcing_.floor);
  }
  // Under autograd the LibTorch steps: differentiable, where the fused forced path is not.
  bool HasFusedRk4(const at::Tensor& x) const override {
    return fused_ != nullptr && !at::GradMode::is_enabled() && fused_->HasFusedRk4(x);
  }
  at::Tensor FusedRk4Path(const at::Tensor& x, double h, int64_t steps, int64_t every) const override {
    if (!prepared_) prepared_.emplace(fused_->fused_field(), x.scalar_type());
    if (h != forcing_h_) {  // The step changes only between output times.
      forcing_.scale = (rate_ * h).sqrt().contiguous();
      forcing_h_ = h;
    }
    forcing_.first_step = step_;
    step_ += steps;
    return FusedForcedRk4Path(*prepared_, x, h, steps, every, forcing_);
  }

 private:
  // ξ [M, N, D] of `step`, in x's dtype.
  at::Tensor Noise(const at::Tensor& x, int64_t step) const {
    const int64_t m = x.size(0), n = x.size(1), d = x.size(2);
    const std::vector<int64_t>& rows = forcing_.rows;
    TORCH_CHECK(static_cast<int64_t>(rows.size()) == n, "StochasticForcing: ", rows.size(), " noise rows for ", n);
    at::Tensor xi = at::empty({m, n, d}, x.options().dtype(at::kDouble));
    for (int64_t member = 0; member < m; ++member) {
      StepNormals(StepNoise{forcing_.seed, rows.data(), n, d}, step, member, xi.data_ptr<double>() + member * n * d);
    }
    return xi.to(x.scalar_type());
  }

  const VectorField& field_;
  const HybridModel* const fused_;  // Null: no fused stretches (an input rate, or not the model itself).
  const at::Tensor rate_;
  mutable int64_t step_ = 0;
  // Seed, rows and floor (NonNegativeFloor: amounts stay ≥ 0) for both
  // paths; scale and first_step are set per fused stretch.
  mutable FusedForcing forcing_;
  mutable double forcing_h_ = 0.0;
  mutable std::optional<PreparedFusedField> prepared_;  // Kept from one fused stretch to the next.
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
  std::vector<at::Tensor> perturbed;
  std::vector<int64_t> rows;        // K·B_r: forecast r's rows of every member.
  std::vector<int64_t> noise_rows;  // Each row's index within its own forecast.
  for (const at::Tensor& x0 : x0s) {
    at::Generator generator = at::detail::createCPUGenerator(o.seed);
    perturbed.push_back(PerturbedStarts(x0, o.initial_std, k, generator, floor));
    rows.push_back(k * x0.size(-2));
    for (int64_t i = 0; i < rows.back(); ++i) noise_rows.push_back(i);
  }
  const at::Tensor all = perturbed.size() == 1 ? perturbed.front() : at::cat(perturbed, 0);
  const at::Tensor starts = own_starts ? all : all.unsqueeze(0).expand({m, all.size(0), d});
  std::optional<RateForcedField> infused;
  if (o.rate.defined()) infused.emplace(model, o.rate.to(starts.scalar_type()));
  const VectorField& field = infused ? static_cast<const VectorField&>(*infused) : model;
  absl::StatusOr<Trajectory> solved =
      forcing
          ? SolveOde(StochasticForcing(field, infused ? nullptr : &model, o.model_error_rate.to(starts.scalar_type()),
                                       o.seed, std::move(noise_rows), floor),
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
