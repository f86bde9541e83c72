#include "solvers/integrate/ode_gradients.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hybrid::solvers {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// What a backward pass needs, owned by the autograd context (as a capsule) so
// that it lives exactly as long as the graph.
struct SolveSpec : torch::CustomClassHolder {
  std::shared_ptr<const VectorField> field;
  SolverOptions options;
  const ButcherTableau* tableau = nullptr;
  double t0 = 0.0;
  std::vector<double> times;
  StepSchedule schedule;
  std::vector<at::Tensor> parameters;
  int64_t segment_steps = 0;
  std::vector<at::Tensor> segment_starts;  // kRecomputeSegments: state before steps 0, k, 2k, …
  at::Tensor outputs;                   // kAdjoint: forward states at the output times.
};

SolveSpec& Spec(AutogradContext* ctx) {
  // The capsule in saved_data keeps the spec alive for as long as ctx exists.
  return *static_cast<SolveSpec*>(ctx->saved_data["spec"].toCapsule().get());
}

// grads of Σ <roots_i, weights_i> wrt inputs; undefined where an input is unused.
variable_list VectorJacobian(const variable_list& roots, const variable_list& weights, const variable_list& inputs) {
  variable_list used_roots, used_weights;
  for (size_t i = 0; i < roots.size(); ++i) {
    if (weights[i].defined() && roots[i].requires_grad()) {
      used_roots.push_back(roots[i]);
      used_weights.push_back(weights[i]);
    }
  }
  if (used_roots.empty()) return variable_list(inputs.size());
  return torch::autograd::grad(used_roots, inputs, used_weights, /*retain_graph=*/false, /*create_graph=*/false,
                               /*allow_unused=*/true);
}

void Accumulate(at::Tensor& total, const at::Tensor& part) {
  if (!part.defined()) return;
  total = total.defined() ? total + part : part;
}

struct RecomputedSegmentsSolve : torch::autograd::Function<RecomputedSegmentsSolve> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x0, at::TensorList parameters,
                            c10::intrusive_ptr<SolveSpec> spec) {
    std::vector<at::Tensor> outputs(spec->schedule.outputs.size());
    at::Tensor x = x0.detach();
    const int64_t steps = static_cast<int64_t>(spec->schedule.t.size());
    for (int64_t first = 0; first < steps; first += spec->segment_steps) {
      spec->segment_starts.push_back(x);
      x = ReplaySteps(*spec->tableau, *spec->field, spec->schedule, first,
                      std::min(steps, first + spec->segment_steps), x,
                      [&](size_t i, const at::Tensor& state) { outputs[i] = state; });
    }
    (void)parameters;  // Inputs only so that autograd routes their gradients here.
    ctx->saved_data["spec"] = c10::IValue::make_capsule(spec);
    return at::stack(outputs, 0);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    SolveSpec& spec = Spec(ctx);
    const at::Tensor& grad_states = grad_outputs[0];
    const int64_t steps = static_cast<int64_t>(spec.schedule.t.size());
    at::Tensor carried;  // dL/d(state at the end of the current segment).
    std::vector<at::Tensor> parameter_grads(spec.parameters.size());
    for (int64_t segment = static_cast<int64_t>(spec.segment_starts.size()) - 1; segment >= 0; --segment) {
      const int64_t first = segment * spec.segment_steps;
      at::AutoGradMode grad_on(true);
      const at::Tensor start = spec.segment_starts[segment].detach().requires_grad_(true);
      variable_list roots, weights;
      const at::Tensor end =
          ReplaySteps(*spec.tableau, *spec.field, spec.schedule, first, std::min(steps, first + spec.segment_steps),
                      start, [&](size_t i, const at::Tensor& state) {
                        roots.push_back(state);
                        weights.push_back(grad_states[static_cast<int64_t>(i)]);
                      });
      roots.push_back(end);
      weights.push_back(carried);
      variable_list inputs = {start};
      inputs.insert(inputs.end(), spec.parameters.begin(), spec.parameters.end());
      const variable_list grads = VectorJacobian(roots, weights, inputs);
      carried = grads[0].defined() ? grads[0] : at::zeros_like(start);
      for (size_t p = 0; p < spec.parameters.size(); ++p) Accumulate(parameter_grads[p], grads[p + 1]);
    }
    variable_list result = {carried};
    result.insert(result.end(), parameter_grads.begin(), parameter_grads.end());
    result.emplace_back();  // The spec.
    return result;
  }
};

// The adjoint system in reversed time s = −t, on one flat state [z, a, a_θ].
class AugmentedAdjointField : public VectorField {
 public:
  AugmentedAdjointField(const SolveSpec& spec, at::IntArrayRef state_shape)
      : spec_(spec), shape_(state_shape.vec()), n_(c10::multiply_integers(state_shape)) {}

  at::Tensor Evaluate(double s, const at::Tensor& augmented) const override {
    at::AutoGradMode grad_on(true);
    const at::Tensor z = augmented.narrow(0, 0, n_).view(shape_).detach().requires_grad_(true);
    const at::Tensor a = augmented.narrow(0, n_, n_).view(shape_);
    const at::Tensor fz = spec_.field->Evaluate(-s, z);
    variable_list inputs = {z};
    inputs.insert(inputs.end(), spec_.parameters.begin(), spec_.parameters.end());
    const variable_list vjp = VectorJacobian({fz}, {a}, inputs);
    // d/ds of (z, a, a_θ) = (−f, aᵀ∂f/∂z, aᵀ∂f/∂θ).
    std::vector<at::Tensor> parts = {-fz.detach().reshape({-1}),
                                     vjp[0].defined() ? vjp[0].reshape({-1}) : at::zeros({n_}, a.options())};
    for (size_t p = 0; p < spec_.parameters.size(); ++p) {
      parts.push_back(vjp[p + 1].defined() ? vjp[p + 1].reshape({-1}).to(a.dtype())
                                           : at::zeros({spec_.parameters[p].numel()}, a.options()));
    }
    return at::cat(parts);
  }

 private:
  const SolveSpec& spec_;
  std::vector<int64_t> shape_;
  int64_t n_;
};

struct AdjointSolve : torch::autograd::Function<AdjointSolve> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x0, at::TensorList parameters,
                            c10::intrusive_ptr<SolveSpec> spec) {
    (void)parameters;
    spec->outputs = at::Tensor();
    absl::StatusOr<Trajectory> solved = SolveOde(*spec->field, x0.detach(), spec->t0, spec->times, spec->options);
    TORCH_CHECK(solved.ok(), "adjoint forward pass failed: ", std::string(solved.status().message()));
    spec->outputs = solved->states;
    ctx->saved_data["spec"] = c10::IValue::make_capsule(spec);
    return solved->states;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    SolveSpec& spec = Spec(ctx);
    const at::Tensor& grad_states = grad_outputs[0];
    const int64_t n = spec.outputs[0].numel();
    int64_t n_params = 0;
    for (const at::Tensor& p : spec.parameters) n_params += p.numel();
    const AugmentedAdjointField augmented(spec, spec.outputs[0].sizes());

    at::Tensor a = at::zeros({n}, spec.outputs.options());
    at::Tensor a_theta = at::zeros({n_params}, spec.outputs.options());
    for (int64_t i = static_cast<int64_t>(spec.times.size()) - 1; i >= 0; --i) {
      a = a + grad_states[i].reshape({-1});
      const double from = spec.times[i];
      const double to = i > 0 ? spec.times[i - 1] : spec.t0;
      const at::Tensor state = at::cat({spec.outputs[i].reshape({-1}), a, a_theta});
      absl::StatusOr<Trajectory> back = SolveOde(augmented, state, -from, {-to}, spec.options);
      TORCH_CHECK(back.ok(), "adjoint backward pass failed: ", std::string(back.status().message()));
      const at::Tensor end = back->states[0];
      a = end.narrow(0, n, n);
      a_theta = end.narrow(0, 2 * n, n_params);
    }
    variable_list result = {a.view(spec.outputs[0].sizes())};
    int64_t offset = 0;
    for (const at::Tensor& p : spec.parameters) {
      result.push_back(a_theta.narrow(0, offset, p.numel()).view(p.sizes()).to(p.dtype()));
      offset += p.numel();
    }
    result.emplace_back();  // The spec.
    return result;
  }
};

}  // namespace

absl::StatusOr<Trajectory> SolveOdeDifferentiable(std::shared_ptr<const VectorField> field, const at::Tensor& x0,
                                                  double t0, absl::Span<const double> times,
                                                  const SolverOptions& options, const OdeGradientOptions& gradients) {
  if (gradients.method == OdeGradientMethod::kBackprop) return SolveOde(*field, x0, t0, times, options);
  if (gradients.method == OdeGradientMethod::kRecomputeSegments && gradients.segment_steps < 1) {
    return absl::InvalidArgumentError(absl::StrCat("segment_steps must be ≥ 1, got ", gradients.segment_steps));
  }
  for (size_t i = 0; i < gradients.parameters.size(); ++i) {
    if (!gradients.parameters[i].defined())
      return absl::InvalidArgumentError(absl::StrCat("parameters[", i, "] is undefined"));
  }
  // The forward pass without autograd: it fixes the steps (and, for the adjoint, the outputs).
  absl::StatusOr<Trajectory> forward = [&] {
    at::NoGradGuard no_grad;
    return SolveOde(*field, x0, t0, times, options);
  }();
  if (!forward.ok()) return forward.status();

  auto spec = c10::make_intrusive<SolveSpec>();
  spec->field = std::move(field);
  spec->options = options;
  spec->tableau = *TableauByName(options.method);
  spec->t0 = t0;
  spec->times.assign(times.begin(), times.end());
  spec->schedule = forward->schedule;
  spec->parameters = gradients.parameters;
  spec->segment_steps = gradients.segment_steps;

  Trajectory out;
  out.stats = forward->stats;
  out.schedule = forward->schedule;
  // As a TensorList each parameter becomes an autograd input of its own.
  const at::TensorList parameters(gradients.parameters);
  try {
    out.states = gradients.method == OdeGradientMethod::kRecomputeSegments ? RecomputedSegmentsSolve::apply(x0, parameters, spec)
                                                                 : AdjointSolve::apply(x0, parameters, spec);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("differentiable solve: ", e.what()));
  }
  return out;
}

}  // namespace hybrid::solvers
