#include "solvers/additive_hybrid.h"

#include <ATen/ATen.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "solvers/damped_pendulum.h"
#include "solvers/disease_progression.h"
#include "solvers/fisher_kpp.h"
#include "solvers/fitzhugh_nagumo.h"
#include "solvers/kuramoto_sivashinsky.h"
#include "solvers/lorenz63.h"
#include "solvers/lorenz96.h"
#include "solvers/pkpd.h"

namespace hybrid::solvers {
namespace {

template <typename Model>
absl::StatusOr<std::shared_ptr<ScientificModel>> Make(const PhysicsOptions& options) {
  absl::StatusOr<std::shared_ptr<Model>> model = Model::Create(options);
  if (!model.ok()) return model.status();
  return std::shared_ptr<ScientificModel>(*std::move(model));
}

absl::StatusOr<std::shared_ptr<ScientificModel>> MakePhysics(const HybridModelSpec& spec) {
  const PhysicsOptions& o = spec.physics_options;
  if (spec.physics == "lorenz63") return Make<Lorenz63>(o);
  if (spec.physics == "lorenz96") return Make<Lorenz96>(o);
  if (spec.physics == "damped_pendulum") return Make<DampedPendulum>(o);
  if (spec.physics == "fitzhugh_nagumo") return Make<FitzHughNagumo>(o);
  if (spec.physics == "fisher_kpp") return Make<FisherKpp>(o);
  if (spec.physics == "pkpd_two_compartment") return Make<TwoCompartmentPkPd>(o);
  if (spec.physics == "kuramoto_sivashinsky") return Make<KuramotoSivashinsky>(o);
  if (spec.physics == "disease_progression") return Make<DiseaseProgression>(o);
  return absl::InvalidArgumentError(
      absl::StrCat("physics: unknown scientific model '", spec.physics,
                   "' (known: lorenz63, lorenz96, damped_pendulum, fitzhugh_nagumo, fisher_kpp, pkpd_two_compartment, "
                   "kuramoto_sivashinsky, disease_progression)"));
}

}  // namespace

absl::StatusOr<std::shared_ptr<AdditiveHybrid>> AdditiveHybrid::Create(const HybridModelSpec& spec) {
  for (size_t i = 0; i < spec.hidden.size(); ++i) {
    if (spec.hidden[i] < 1 || spec.hidden[i] > 4096) {
      return absl::InvalidArgumentError(
          absl::StrCat("correction.hidden[", i, "] = ", spec.hidden[i], " must be in [1, 4096]"));
    }
  }
  if (spec.physics_options.dtype != at::kDouble && spec.physics_options.dtype != at::kFloat) {
    return absl::InvalidArgumentError("dtype must be float64 or float32");
  }
  absl::StatusOr<std::shared_ptr<ScientificModel>> physics = MakePhysics(spec);
  if (!physics.ok()) return physics.status();
  return std::shared_ptr<AdditiveHybrid>(new AdditiveHybrid(spec, *std::move(physics)));
}

AdditiveHybrid::AdditiveHybrid(HybridModelSpec spec, std::shared_ptr<ScientificModel> physics)
    : spec_(std::move(spec)), physics_(register_module("physics", std::move(physics))) {
  if (!spec_.hidden.empty()) {
    MemberMlpOptions options;
    options.input = physics_->state_dim();
    options.hidden = spec_.hidden;
    options.output = physics_->state_dim();
    options.members = physics_->members();
    options.output_scale = spec_.output_scale;
    options.seed = spec_.physics_options.seed + 1;  // Independent of the θ jitter draw.
    options.dtype = spec_.physics_options.dtype;
    correction_ = register_module("correction", MemberMlp(options));
  }
}

at::Tensor AdditiveHybrid::Evaluate(double t, const at::Tensor& x) const {
  at::Tensor dxdt = physics_->Evaluate(t, x);
  if (correction_) dxdt = dxdt + correction_->Forward(x);
  return dxdt;
}

at::Tensor AdditiveHybrid::Correction(const at::Tensor& x) const {
  return correction_ ? correction_->Forward(x) : at::zeros_like(x);
}

std::vector<at::Tensor> AdditiveHybrid::PhiParameters() const {
  return correction_ ? correction_->parameters() : std::vector<at::Tensor>{};
}

std::shared_ptr<AdditiveHybrid> AdditiveHybrid::Clone() const {
  std::shared_ptr<AdditiveHybrid> copy = Create(spec_).value();  // spec_ was valid at Create.
  at::NoGradGuard no_grad;
  const auto source = named_parameters(/*recurse=*/true);
  for (auto& item : copy->named_parameters(/*recurse=*/true)) {
    item.value().copy_(source[item.key()]);
  }
  return copy;
}

}  // namespace hybrid::solvers
