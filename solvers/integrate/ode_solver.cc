#include "solvers/integrate/ode_solver.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/checked_arithmetic.h"
#include "solvers/integrate/runge_kutta_step.h"
#include "solvers/integrate/step_size_controller.h"

namespace hybrid::solvers {
namespace {

// Times in messages: enough digits to tell 0.9999999 from 1.
std::string Time(double t) { return absl::StrFormat("%.12g", t); }

// A plain loop over contiguous CPU values: at::isfinite(x).all() is seven
// operator calls, and fixed-step solves check every output.
bool AllFinite(const at::Tensor& x) {
  if (x.device().is_cpu() && x.is_contiguous() && (x.scalar_type() == at::kDouble || x.scalar_type() == at::kFloat)) {
    bool finite = true;
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "all_finite", [&] {
      const scalar_t* p = x.data_ptr<scalar_t>();
      finite = std::all_of(p, p + x.numel(), [](scalar_t v) { return std::isfinite(v); });
    });
    return finite;
  }
  return at::isfinite(x).all().item<bool>();
}

absl::Status ValidateTimes(double t0, absl::Span<const double> times) {
  if (times.empty()) return absl::InvalidArgumentError("times must not be empty");
  double previous = t0;
  for (size_t i = 0; i < times.size(); ++i) {
    if (!std::isfinite(times[i]) || !(times[i] > previous)) {
      return absl::InvalidArgumentError(
          absl::StrCat("times[", i, "] = ", times[i], " must be finite and greater than ", previous));
    }
    previous = times[i];
  }
  return absl::OkStatus();
}

// max over batch rows of the RMS of v / scale (a 1-D tensor is one row).
double ScaledNorm(const at::Tensor& v, const at::Tensor& scale) {
  at::NoGradGuard no_grad;
  const at::Tensor r = (v / scale).pow(2);
  const at::Tensor per_row = r.dim() <= 1 ? r.mean() : r.reshape({r.size(0), -1}).mean(1);
  return per_row.max().sqrt().item<double>();
}

constexpr int64_t kInterruptEvery = 16;  // Fixed steps between interrupt checks.

absl::StatusOr<Trajectory> SolveFixed(const ButcherTableau& tableau, const VectorField& f, const at::Tensor& x0,
                                      double t0, absl::Span<const double> times, const SolverOptions& o) {
  const std::optional<int64_t> total = FixedStepCount(t0, times, o.step);
  if (!total || *total > o.max_steps) {
    return absl::FailedPreconditionError(absl::StrCat("max_steps (", o.max_steps, ") exceeded: the grid needs ",
                                                      total ? absl::StrCat(*total) : "more than 2^63",
                                                      " steps of at most ", o.step, " from t = ", Time(t0)));
  }
  Trajectory out;
  // Outside autograd every output goes straight into one tensor: a long
  // forecast's states then live in one block instead of one per output among
  // the steps' temporaries (whose arenas could not be given back).
  const bool record = at::GradMode::is_enabled();
  std::vector<at::Tensor> states;
  if (record) states.reserve(times.size());
  at::Tensor x = x0;
  double t = t0;
  for (double target : times) {
    const int64_t n = *FixedStepsBetween(t, target, o.step);  // The total above fits.
    const double h = (target - t) / static_cast<double>(n);
    // With an interrupt, run in chunks and ask it in between.
    for (int64_t done = 0; done < n;) {
      const int64_t chunk = o.interrupt ? std::min(kInterruptEvery, n - done) : n;
      if (o.interrupt) {
        if (absl::Status s = o.interrupt(); !s.ok()) return s;
      }
      x = IntegrateFixed(tableau, f, x, t + static_cast<double>(done) * h, h, chunk);
      done += chunk;
    }
    for (int64_t i = 0; i < n; ++i) {
      out.schedule.t.push_back(t + static_cast<double>(i) * h);
      out.schedule.h.push_back(h);
    }
    out.schedule.outputs.push_back({out.stats.accepted + n - 1, 1.0});
    out.stats.accepted += n;
    t = target;
    if (!AllFinite(x)) {
      return absl::FailedPreconditionError(
          absl::StrCat("state became non-finite by t = ", Time(target), " (diverged)"));
    }
    if (record) {
      states.push_back(x);
    } else {
      if (!out.states.defined()) {
        std::vector<int64_t> shape = {static_cast<int64_t>(times.size())};
        shape.insert(shape.end(), x.sizes().begin(), x.sizes().end());
        out.states = at::empty(shape, x.options());
      }
      out.states.select(0, static_cast<int64_t>(out.schedule.outputs.size()) - 1).copy_(x);
    }
  }
  out.stats.evaluations = out.stats.accepted * tableau.stages();
  if (record) out.states = at::stack(states, 0);
  return out;
}

// Hairer & Wanner's starting step (II.4): an explicit-Euler probe of the scale.
double InitialStep(const ButcherTableau& tableau, const VectorField& f, const at::Tensor& x0, const at::Tensor& f0,
                   double t0, double t_end, const SolverOptions& o, SolveStats& stats) {
  at::NoGradGuard no_grad;
  const at::Tensor scale = o.atol + o.rtol * x0.abs();
  const double d0 = ScaledNorm(x0, scale), d1 = ScaledNorm(f0, scale);
  double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
  h0 = std::min(h0, t_end - t0);
  const at::Tensor f1 = f.Evaluate(t0 + h0, x0 + h0 * f0);
  ++stats.evaluations;
  const double d2 = ScaledNorm(f1 - f0, scale) / h0;
  const double largest = std::max(d1, d2);
  const double h1 = largest <= 1e-15 ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / largest, 1.0 / tableau.order);
  return std::min(100 * h0, h1);
}

// Appends the outputs that the accepted step [t, t_new] (schedule entry
// `index`) reaches — every output time it passes, by dense output when the
// method has one, else the one it lands on — and returns the next output
// not yet reached.
size_t RecordOutputs(const ButcherTableau& tableau, absl::Span<const double> times, size_t next, double t,
                     double t_new, double h, const at::Tensor& x, const RkStep& step, int64_t index,
                     std::vector<at::Tensor>& states, StepSchedule& schedule) {
  if (!tableau.has_dense_output) {
    if (t_new != times[next]) return next;
    states.push_back(step.x);
    schedule.outputs.push_back({index, 1.0});
    return next + 1;
  }
  std::unique_ptr<DenseSegment> dense;
  for (; next < times.size() && times[next] <= t_new; ++next) {
    if (times[next] == t_new) {
      states.push_back(step.x);
      schedule.outputs.push_back({index, 1.0});
    } else {
      if (!dense) dense = std::make_unique<DenseSegment>(x, step, h);
      const double theta = (times[next] - t) / h;
      states.push_back(dense->At(theta));
      schedule.outputs.push_back({index, theta});
    }
  }
  return next;
}

absl::StatusOr<Trajectory> SolveAdaptive(const ButcherTableau& tableau, const VectorField& f, const at::Tensor& x0,
                                         double t0, absl::Span<const double> times, const SolverOptions& o) {
  Trajectory out;
  SolveStats& stats = out.stats;
  const double t_end = times.back();
  const double max_step = o.step > 0.0 ? o.step : std::numeric_limits<double>::infinity();
  PiStepController controller(tableau.error_order);

  std::vector<at::Tensor> states;
  states.reserve(times.size());
  size_t next = 0;  // First output time not yet reached.
  double t = t0;
  at::Tensor x = x0;
  at::Tensor k1 = f.Evaluate(t, x);
  ++stats.evaluations;
  double h = o.first_step > 0.0 ? o.first_step : InitialStep(tableau, f, x0, k1, t0, t_end, o, stats);
  bool last_nonfinite = false;  // For the underflow message.

  while (next < times.size()) {
    if (o.interrupt) {
      if (absl::Status s = o.interrupt(); !s.ok()) return s;
    }
    if (stats.accepted + stats.rejected >= o.max_steps) {
      return absl::FailedPreconditionError(
          absl::StrCat("max_steps (", o.max_steps, ") exceeded at t = ", Time(t), " (h = ", h, ")"));
    }
    const double min_step = std::max(o.min_step, 16 * DBL_EPSILON * std::max(std::abs(t), 1e-300));
    h = std::min(h, max_step);
    // Methods without dense output land on every output time; all stop at the last.
    const double stop = tableau.has_dense_output ? t_end : times[next];
    if (t + h >= stop || stop - (t + h) < min_step) h = stop - t;
    if (h < min_step) {
      return absl::FailedPreconditionError(absl::StrCat("step size underflow at t = ", Time(t), ": h = ", h,
                                                        " < min_step = ", min_step,
                                                        last_nonfinite ? " (the state became non-finite)" : ""));
    }

    RkStep step = TakeRkStep(tableau, f, t, x, h, k1, /*want_error=*/true);
    stats.evaluations += tableau.stages() - (k1.defined() ? 1 : 0);
    k1 = step.k.front();  // f(t, x): still valid if this step is rejected.
    double error;
    {
      at::NoGradGuard no_grad;
      error = ScaledNorm(step.error, o.atol + o.rtol * at::maximum(x.abs(), step.x.abs()));
    }
    if (!std::isfinite(error) || error > 1.0) {
      ++stats.rejected;
      last_nonfinite = !std::isfinite(error);
      h = controller.Rejected(h, error);
      continue;
    }

    ++stats.accepted;
    const double t_new = (h == stop - t) ? stop : t + h;
    const int64_t index = static_cast<int64_t>(out.schedule.t.size());
    out.schedule.t.push_back(t);
    out.schedule.h.push_back(h);
    next = RecordOutputs(tableau, times, next, t, t_new, h, x, step, index, states, out.schedule);
    t = t_new;
    x = step.x;
    k1 = tableau.fsal ? step.k.back() : at::Tensor();
    h = controller.Accepted(h, error);
    last_nonfinite = false;
  }
  out.states = at::stack(states, 0);
  return out;
}

}  // namespace

absl::Status ValidateSolverOptions(const SolverOptions& o) {
  absl::StatusOr<const ButcherTableau*> tableau = TableauByName(o.method);
  if (!tableau.ok()) return tableau.status();
  auto positive = [](double v) { return v > 0.0 && std::isfinite(v); };
  if (!o.adaptive && !positive(o.step)) {
    return absl::InvalidArgumentError(absl::StrCat("step must be finite and > 0, got ", o.step));
  }
  if (o.adaptive) {
    if (!(*tableau)->adaptive()) {
      return absl::InvalidArgumentError(
          absl::StrCat("method ", o.method, " has no error estimate; adaptive mode needs heun or dopri5"));
    }
    if (!(o.step >= 0.0) || std::isnan(o.step)) return absl::InvalidArgumentError("step must be ≥ 0 in adaptive mode");
    if (!(o.rtol >= 0.0) || !(o.atol >= 0.0) || !(o.rtol + o.atol > 0.0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("rtol and atol must be ≥ 0 and not both 0, got rtol = ", o.rtol, ", atol = ", o.atol));
    }
    if (o.rtol > 0.0 && o.rtol < 1e3 * DBL_EPSILON && o.atol == 0.0) {
      return absl::InvalidArgumentError(absl::StrCat("rtol = ", o.rtol, " is below what float64 can deliver"));
    }
    if (!(o.first_step >= 0.0) || !(o.min_step >= 0.0)) {
      return absl::InvalidArgumentError("first_step and min_step must be ≥ 0");
    }
  }
  if (o.max_steps < 1) return absl::InvalidArgumentError(absl::StrCat("max_steps must be ≥ 1, got ", o.max_steps));
  return absl::OkStatus();
}

absl::StatusOr<Trajectory> SolveOde(const VectorField& f, const at::Tensor& x0, double t0,
                                    absl::Span<const double> times, const SolverOptions& options) {
  if (absl::Status s = ValidateSolverOptions(options); !s.ok()) return s;
  if (absl::Status s = ValidateTimes(t0, times); !s.ok()) return s;
  if (options.adaptive && f.HasDiscreteStep()) {
    return absl::InvalidArgumentError(
        "adaptive: step-size control needs a vector field; black-box physics advances by fixed steps only");
  }
  const ButcherTableau& tableau = **TableauByName(options.method);
  return options.adaptive ? SolveAdaptive(tableau, f, x0, t0, times, options)
                          : SolveFixed(tableau, f, x0, t0, times, options);
}

at::Tensor IntegrateFixed(const ButcherTableau& tableau, const VectorField& f, const at::Tensor& x0, double t0,
                          double h, int64_t steps) {
  if (&tableau == &ClassicRk4() && steps > 0 && f.HasFusedRk4(x0)) {
    return f.FusedRk4Path(x0, h, steps, steps).select(-2, 0);
  }
  at::Tensor x = x0;
  if (f.HasDiscreteStep()) {
    for (int64_t i = 0; i < steps; ++i) x = f.DiscreteStep(t0 + static_cast<double>(i) * h, x, h);
    return x;
  }
  at::Tensor k1;  // FSAL methods reuse the last stage.
  for (int64_t i = 0; i < steps; ++i) {
    RkStep step = TakeRkStep(tableau, f, t0 + static_cast<double>(i) * h, x, h, k1, /*want_error=*/false);
    x = step.x;
    if (tableau.fsal) k1 = step.k.back();
  }
  return x;
}

at::Tensor ReplaySteps(const ButcherTableau& tableau, const VectorField& f, const StepSchedule& schedule, int64_t first,
                       int64_t last, at::Tensor x, const std::function<void(size_t, const at::Tensor&)>& emit) {
  // Outputs are ordered by step: find the first one at or after `first`.
  size_t next = 0;
  TORCH_CHECK(!f.HasDiscreteStep(), "replaying Runge-Kutta steps needs a vector field, not black-box physics");
  while (next < schedule.outputs.size() && schedule.outputs[next].step < first) ++next;
  for (int64_t i = first; i < last; ++i) {
    const double h = schedule.h[i];
    const bool dense_outputs =
        next < schedule.outputs.size() && schedule.outputs[next].step == i && schedule.outputs[next].theta < 1.0;
    RkStep step = TakeRkStep(tableau, f, schedule.t[i], x, h, at::Tensor(), /*want_error=*/false);
    std::unique_ptr<DenseSegment> dense;
    if (dense_outputs) dense = std::make_unique<DenseSegment>(x, step, h);
    for (; next < schedule.outputs.size() && schedule.outputs[next].step == i; ++next) {
      const double theta = schedule.outputs[next].theta;
      emit(next, theta == 1.0 ? step.x : dense->At(theta));
    }
    x = step.x;
  }
  return x;
}

std::optional<int64_t> FixedStepsBetween(double from, double to, double step) {
  // The tolerance keeps an interval of exactly k·step at k steps despite rounding.
  const std::optional<int64_t> n = base::CeilToCount((to - from) / step - 1e-9);
  if (!n) return std::nullopt;
  return std::max<int64_t>(1, *n);
}

std::optional<int64_t> FixedStepCount(double t0, absl::Span<const double> times, double step) {
  std::optional<int64_t> total = 0;
  double from = t0;
  for (double to : times) {
    const std::optional<int64_t> n = FixedStepsBetween(from, to, step);
    total = n ? base::CheckedAdd(*total, *n) : std::nullopt;
    if (!total) return std::nullopt;
    from = to;
  }
  return total;
}

at::Tensor IntegrateFixedPath(const ButcherTableau& tableau, const VectorField& f, const at::Tensor& x0, double t0,
                              double h, int64_t steps, int64_t every) {
  TORCH_CHECK(every >= 1 && steps % every == 0, "IntegrateFixedPath: steps ", steps, " is not a multiple of ", every);
  if (&tableau == &ClassicRk4() && steps > 0 && f.HasFusedRk4(x0)) return f.FusedRk4Path(x0, h, steps, every);
  std::vector<at::Tensor> kept;
  kept.reserve(static_cast<size_t>(steps / every));
  at::Tensor x = x0;
  for (int64_t i = 0; i < steps; i += every) {
    x = IntegrateFixed(tableau, f, x, t0 + static_cast<double>(i) * h, h, every);
    kept.push_back(x);
  }
  return at::stack(kept, /*dim=*/x0.dim() - 1);
}

at::Tensor VectorField::DiscreteStep(double, const at::Tensor&, double) const {
  TORCH_CHECK(false, "this vector field has no discrete step of its own");
}

at::Tensor VectorField::FusedRk4Path(const at::Tensor&, double, int64_t, int64_t) const {
  TORCH_CHECK(false, "this vector field has no fused RK4 kernel");
}

}  // namespace hybrid::solvers
