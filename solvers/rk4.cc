#include "solvers/rk4.h"

#include <ATen/ATen.h>

#include <cmath>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hybrid::solvers {
namespace {

int64_t StepsBetween(double from, double to, double max_step) {
  // The small tolerance keeps an interval of exactly k·max_step at k steps
  // despite rounding in (to - from).
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil((to - from) / max_step - 1e-9)));
}

}  // namespace

at::Tensor Rk4Step(const VectorField& f, double t, const at::Tensor& x, double h) {
  const at::Tensor k1 = f.Evaluate(t, x);
  const at::Tensor k2 = f.Evaluate(t + 0.5 * h, x + (0.5 * h) * k1);
  const at::Tensor k3 = f.Evaluate(t + 0.5 * h, x + (0.5 * h) * k2);
  const at::Tensor k4 = f.Evaluate(t + h, x + h * k3);
  return x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
}

at::Tensor Rk4Integrate(const VectorField& f, const at::Tensor& x0, double t0, double h,
                        int64_t steps) {
  at::Tensor x = x0;
  for (int64_t i = 0; i < steps; ++i) x = Rk4Step(f, t0 + static_cast<double>(i) * h, x, h);
  return x;
}

int64_t Rk4StepCount(double t0, absl::Span<const double> times, double max_step) {
  int64_t total = 0;
  double from = t0;
  for (double to : times) {
    total += StepsBetween(from, to, max_step);
    from = to;
  }
  return total;
}

absl::StatusOr<at::Tensor> Rk4Solve(const VectorField& f, const at::Tensor& x0, double t0,
                                    absl::Span<const double> times, double max_step) {
  if (!(max_step > 0.0) || !std::isfinite(max_step)) {
    return absl::InvalidArgumentError(absl::StrCat("max_step must be finite and > 0, got ", max_step));
  }
  if (times.empty()) return absl::InvalidArgumentError("times must not be empty");
  double previous = t0;
  for (size_t i = 0; i < times.size(); ++i) {
    if (!std::isfinite(times[i]) || !(times[i] > previous)) {
      return absl::InvalidArgumentError(absl::StrCat("times[", i, "] = ", times[i],
                                                     " must be finite and greater than ", previous));
    }
    previous = times[i];
  }

  std::vector<at::Tensor> outputs;
  outputs.reserve(times.size());
  at::Tensor x = x0;
  double t = t0;
  for (double target : times) {
    const int64_t n = StepsBetween(t, target, max_step);
    x = Rk4Integrate(f, x, t, (target - t) / static_cast<double>(n), n);
    t = target;
    if (!at::isfinite(x).all().item<bool>()) {
      return absl::FailedPreconditionError(
          absl::StrCat("RK4 state became non-finite by t = ", target, " (solver diverged)"));
    }
    outputs.push_back(x);
  }
  return at::stack(outputs, 0);
}

}  // namespace hybrid::solvers
