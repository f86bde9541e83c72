#include "solvers/calibration/gradient_rollout.h"

#include <ATen/ATen.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "base/enum_names.h"
#include "solvers/black_box/black_box_physics.h"
#include "solvers/integrate/butcher_tableau.h"
#include "solvers/integrate/ode_solver.h"

namespace hybrid::solvers {
namespace {

// h·(f(x̄; θ) − f(x̄; θ).detach()): zero in value, θ's first-order gradient.
at::Tensor ThetaEulerTerm(const HybridModel& model, const at::Tensor& x_bar, double h) {
  if (model.black_box() != nullptr || model.composition() == Composition::kNetworkOnly ||
      model.ThetaParameters().empty()) {
    return at::Tensor();
  }
  const at::Tensor f = model.Physics(x_bar);
  return h * (f - f.detach());
}

// J·(x − x̄) for a detached J [M, W, D, D]: zero in value, gradient Jᵀλ.
at::Tensor LinearInX(const at::Tensor& jacobian, const at::Tensor& x, const at::Tensor& x_bar) {
  return at::matmul(jacobian.detach(), (x - x_bar).unsqueeze(-1)).squeeze(-1);
}

at::Tensor Surrogate(const HybridModel& model, const at::Tensor& x, double h, const GradientOptions& o,
                     at::Generator& generator) {
  const at::Tensor x_bar = x.detach();
  at::Tensor out;
  switch (o.method) {
    case GradientMethod::kBackprop:
      return IntegrateFixed(ClassicRk4(), model, x, 0.0, h, 1);
    case GradientMethod::kEgaStatic:
      out = x + (model.has_correction() ? h * model.Correction(x_bar) : at::zeros_like(x_bar));
      break;
    case GradientMethod::kEgaJacobian:
      out = x + (model.has_correction() ? h * model.Correction(x) : at::zeros_like(x));
      break;
    case GradientMethod::kEgaTlm:
      if (model.black_box() != nullptr) {
        out = x_bar + LinearInX(model.black_box()->Jacobian(x_bar, h, 1), x, x_bar);
      } else {
        out = PhysicsStep(model, x, h);  // Exact TLM (and θ gradient) by autograd.
      }
      if (model.has_correction()) out = out + h * model.Correction(x);
      break;
    case GradientMethod::kEgaEnsemble:
      out = x_bar +
            LinearInX(EstimateJacobian(model, x_bar, h, o.ensemble_size, o.ensemble_perturbation, generator), x, x_bar);
      if (model.has_correction()) out = out + h * model.Correction(x);
      break;
  }
  if (o.method != GradientMethod::kEgaTlm || model.black_box() != nullptr) {
    if (at::Tensor theta = ThetaEulerTerm(model, x_bar, h); theta.defined()) out = out + theta;
  }
  return out;
}

constexpr base::EnumName<GradientMethod> kGradientMethodNames[] = {
    {GradientMethod::kBackprop, "backprop"}, {GradientMethod::kEgaStatic, "ega-static"},
    {GradientMethod::kEgaJacobian, "ega-jacobian"}, {GradientMethod::kEgaTlm, "ega-tlm"},
    {GradientMethod::kEgaEnsemble, "ega-ensemble"}};

}  // namespace

std::string GradientMethodName(GradientMethod method) { return base::NameOf(kGradientMethodNames, method); }

absl::Status CheckGradientMethod(const HybridModel& model, const GradientOptions& o) {
  const BlackBoxPhysics* black_box = model.black_box();
  if (o.method == GradientMethod::kBackprop && black_box != nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("calibration.method: backprop needs differentiable physics; '",
                                                   black_box->step().name(),
                                                   "' is a black-box step (use an EGA method)"));
  }
  if (o.method == GradientMethod::kEgaTlm && black_box != nullptr && !black_box->step().has_tangent_linear()) {
    return absl::InvalidArgumentError(absl::StrCat("calibration.method: ega-tlm needs a tangent-linear model and '",
                                                   black_box->step().name(),
                                                   "' exports none (use ega-ensemble or ega-static)"));
  }
  if (o.method == GradientMethod::kEgaEnsemble && (o.ensemble_size < 1 || o.ensemble_size > 1024)) {
    return absl::InvalidArgumentError(
        absl::StrCat("calibration.ensemble_size must be in [1, 1024], got ", o.ensemble_size));
  }
  if (o.method == GradientMethod::kEgaEnsemble && !(o.ensemble_perturbation > 0.0 && o.ensemble_perturbation < 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("calibration.ensemble_perturbation must be in (0, 1), got ", o.ensemble_perturbation));
  }
  return absl::OkStatus();
}

at::Tensor EstimateJacobian(const HybridModel& model, const at::Tensor& x, double h, int64_t ensemble_size,
                            double perturbation, at::Generator& generator) {
  at::NoGradGuard no_grad;
  const int64_t m = x.size(0), w = x.size(1), d = x.size(2), k = ensemble_size;
  // Work in float64 whatever the model's dtype: differences of nearby runs.
  const at::Tensor x64 = x.to(at::kDouble);
  const at::Tensor scale = 1.0 + x64.pow(2).mean(-1, /*keepdim=*/true).sqrt();  // [M, W, 1]
  const at::Tensor delta = at::normal(0.0, 1.0, {m, w, k, d}, generator, at::TensorOptions().dtype(at::kDouble)) *
                           (perturbation * scale.unsqueeze(-1));  // [M, W, K, D]
  const at::Tensor perturbed = (x64.unsqueeze(2) + delta).reshape({m, w * k, d}).to(x.scalar_type());
  const at::Tensor base = PhysicsStep(model, x, h).to(at::kDouble);
  const at::Tensor response =
      PhysicsStep(model, perturbed, h).to(at::kDouble).reshape({m, w, k, d}) - base.unsqueeze(2);  // ΔY
  const at::Tensor jacobian_t = at::matmul(at::linalg_pinv(delta), response);                      // [M, W, D, D]
  return jacobian_t.transpose(-1, -2).to(x.scalar_type());
}

at::Tensor RolloutPathForGradient(const HybridModel& model, const at::Tensor& start, double step, int64_t steps,
                                  const GradientOptions& options, at::Generator& generator) {
  at::Tensor x = start.unsqueeze(0).expand({model.members(), start.size(0), start.size(1)});
  if (options.method == GradientMethod::kBackprop) {
    return IntegrateFixedPath(ClassicRk4(), model, x, 0.0, step, steps, 1);
  }
  std::vector<at::Tensor> path;
  path.reserve(static_cast<size_t>(steps));
  for (int64_t i = 0; i < steps; ++i) {
    at::Tensor value;
    {
      at::NoGradGuard no_grad;
      value = IntegrateFixed(ClassicRk4(), model, x.detach(), 0.0, step, 1);
    }
    const at::Tensor out = Surrogate(model, x, step, options, generator);
    path.push_back(x = out + (value - out).detach());
  }
  return at::stack(path, /*dim=*/2);
}

at::Tensor RolloutForGradient(const HybridModel& model, const at::Tensor& start, double step, int64_t steps,
                              const GradientOptions& options, at::Generator& generator) {
  return RolloutPathForGradient(model, start, step, steps, options, generator).select(2, -1);
}

}  // namespace hybrid::solvers
