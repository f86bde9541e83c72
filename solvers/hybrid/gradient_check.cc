#include "solvers/hybrid/gradient_check.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "solvers/hybrid/hybrid_model.h"
#include "solvers/integrate/ode_solver.h"

namespace hybrid::solvers {
namespace {

// Central difference of `loss` wrt entry `i` of `flat`, Richardson-extrapolated from steps eps and eps/2.
double NumericDerivative(const std::function<at::Tensor()>& loss, at::Tensor flat, int64_t i, double eps) {
  const double original = flat[i].item<double>();
  auto central = [&](double h) {
    flat[i].fill_(original + h);
    const double up = loss().item<double>();
    flat[i].fill_(original - h);
    const double down = loss().item<double>();
    flat[i].fill_(original);
    return (up - down) / (2 * h);
  };
  return (4 * central(eps / 2) - central(eps)) / 3;
}

}  // namespace

GradientAgreement CompareGradientWithDifferences(const std::function<at::Tensor()>& loss,
                                                 const std::vector<at::Tensor>& params, double eps,
                                                 int64_t max_entries) {
  GradientAgreement agreement;
  if (params.empty()) return agreement;
  for (at::Tensor p : params) p.mutable_grad() = at::Tensor();
  loss().backward();
  at::NoGradGuard no_grad;
  for (const at::Tensor& param : params) {
    if (!param.requires_grad()) continue;  // Frozen: nothing trains it.
    const at::Tensor grad = param.grad().defined() ? param.grad().reshape({-1}).clone() : at::zeros({param.numel()});
    const double floor = 1e-3 * grad.abs().max().item<double>();
    at::Tensor flat = param.view({-1});
    const int64_t n = flat.numel();
    const int64_t count = std::min(n, max_entries);
    for (int64_t k = 0; k < count; ++k) {
      const int64_t i = count == n ? k : k * (n - 1) / std::max<int64_t>(count - 1, 1);
      const double numeric = NumericDerivative(loss, flat, i, eps);
      const double exact = grad[i].item<double>();
      const double error = std::abs(exact - numeric) / std::max({std::abs(numeric), floor, 1e-300});
      agreement.worst_relative_error = std::max(agreement.worst_relative_error, std::isnan(error) ? INFINITY : error);
      ++agreement.entries;
    }
  }
  return agreement;
}

absl::StatusOr<GradientAgreement> CheckForecastGradient(const HybridModel& model, int64_t steps, double step) {
  if (model.black_box() != nullptr) {
    return absl::FailedPreconditionError("black-box physics: autograd does not see θ (EGA calibrates it)");
  }
  if (model.dtype() != at::kDouble) {
    return absl::FailedPreconditionError("a float32 model: finite differences are compared in float64 only");
  }
  std::shared_ptr<HybridModel> copy = model.Clone();
  copy->eval();  // No dropout masks: each evaluation must be the same function.
  at::Generator generator = at::detail::createCPUGenerator(/*seed_in=*/20261202);
  const at::Tensor probe = 0.5 + 0.1 * at::randn({1, 2, copy->state_dim()}, generator, at::kDouble);
  const at::Tensor x0 = probe.expand({copy->members(), 2, copy->state_dim()}).contiguous();
  SolverOptions rk4;
  rk4.step = step;
  absl::Status failed;
  auto loss = [&] {
    absl::StatusOr<Trajectory> r = SolveOde(*copy, x0, 0.0, {static_cast<double>(steps) * step}, rk4);
    if (!r.ok()) {
      failed = r.status();
      return at::zeros({}, at::kDouble);
    }
    return (r->states * r->states).mean();
  };
  if (const at::Tensor first = loss(); !failed.ok() || !first.requires_grad()) {
    if (!failed.ok()) return failed;
    return GradientAgreement{};  // Nothing trainable.
  }
  GradientAgreement agreement =
      CompareGradientWithDifferences(loss, copy->ThetaParameters(), 1e-4, /*max_entries=*/1 << 20);
  const GradientAgreement phi = CompareGradientWithDifferences(loss, copy->PhiParameters(), 1e-4, 4);
  if (!failed.ok()) return failed;
  agreement.worst_relative_error = std::max(agreement.worst_relative_error, phi.worst_relative_error);
  agreement.entries += phi.entries;
  return agreement;
}

}  // namespace hybrid::solvers
