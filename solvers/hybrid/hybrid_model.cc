#include "solvers/hybrid/hybrid_model.h"

#include <ATen/ATen.h>

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/enum_names.h"
#include "solvers/black_box/black_box_physics.h"
#include "solvers/physics/physics_catalog.h"

namespace hybrid::solvers {
namespace {

absl::StatusOr<std::shared_ptr<ScientificModel>> MakeBlackBox(absl::StatusOr<std::shared_ptr<const BlackBoxStep>> step,
                                                              const PhysicsOptions& options) {
  if (!step.ok()) return step.status();
  absl::StatusOr<std::shared_ptr<BlackBoxPhysics>> physics = BlackBoxPhysics::Create(*std::move(step), options);
  if (!physics.ok()) return physics.status();
  return std::shared_ptr<ScientificModel>(*std::move(physics));
}

absl::StatusOr<std::shared_ptr<ScientificModel>> MakePhysics(const HybridModelSpec& spec) {
  const PhysicsOptions& o = spec.physics_options;
  if (spec.black_box_step) return MakeBlackBox(spec.black_box_step, o);
  if (spec.physics == "plugin") {
    if (!o.structure.empty()) return absl::InvalidArgumentError("structure: a plugin takes no structure keys");
    return MakeBlackBox(LoadPluginStep(spec.plugin), o);
  }
  if (spec.physics == "torchscript") {
    if (!o.structure.empty())
      return absl::InvalidArgumentError("structure: a TorchScript model takes no structure keys");
    absl::StatusOr<std::shared_ptr<const TorchScriptModule>> module =
        spec.torchscript_module ? spec.torchscript_module : LoadTorchScriptModule(spec.torchscript, o.dtype);
    if (!module.ok()) return module.status();
    absl::StatusOr<std::shared_ptr<TorchScriptPhysics>> physics = TorchScriptPhysics::Create(*std::move(module), o);
    if (!physics.ok()) return physics.status();
    return std::shared_ptr<ScientificModel>(*std::move(physics));
  }
  if (const PhysicsCatalogEntry* entry = FindPhysics(spec.physics)) return entry->create(o);
  return absl::InvalidArgumentError(absl::StrCat("physics: unknown scientific model '", spec.physics,
                                                 "' (known: ", PhysicsCatalogNames(), ", plugin, torchscript)"));
}

absl::Status CheckSizes(const std::vector<int64_t>& sizes, const std::string& field) {
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] < 1 || sizes[i] > 4096) {
      return absl::InvalidArgumentError(absl::StrCat(field, "[", i, "] = ", sizes[i], " must be in [1, 4096]"));
    }
  }
  return absl::OkStatus();
}

bool UsesNetwork(Composition c) { return c != Composition::kPhysicsOnly; }

constexpr base::EnumName<Composition> kCompositionNames[] = {
    {Composition::kAdditive, "additive"}, {Composition::kSerial, "serial"}, {Composition::kParallel, "parallel"},
    {Composition::kPhysicsOnly, "physics_only"}, {Composition::kNetworkOnly, "network_only"}};

}  // namespace

std::string CompositionName(Composition composition) { return base::NameOf(kCompositionNames, composition); }

absl::StatusOr<std::shared_ptr<HybridModel>> HybridModel::Create(const HybridModelSpec& spec) {
  if (absl::Status s = CheckSizes(spec.hidden, "correction.hidden"); !s.ok()) return s;
  if (absl::Status s = CheckSizes(spec.noise_hidden, "noise_hidden"); !s.ok()) return s;
  if (spec.physics_options.dtype != at::kDouble && spec.physics_options.dtype != at::kFloat) {
    return absl::InvalidArgumentError("dtype must be float64 or float32");
  }
  const bool scripted = spec.network == NetworkKind::kTorchScript;
  if (scripted && !spec.hidden.empty()) {
    return absl::InvalidArgumentError(
        "correction.hidden must be empty for a TorchScript network (its layers are the module's)");
  }
  if (scripted && !UsesNetwork(spec.composition)) {
    return absl::InvalidArgumentError("correction.torchscript_file: composition physics_only uses no network");
  }
  const bool needs_network = spec.composition != Composition::kAdditive && UsesNetwork(spec.composition);
  if (needs_network && spec.hidden.empty() && !scripted) {
    return absl::InvalidArgumentError(
        absl::StrCat("correction.hidden must not be empty for composition ", CompositionName(spec.composition)));
  }
  if (!(spec.dropout >= 0.0 && spec.dropout < 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat("dropout must be in [0, 1), got ", spec.dropout));
  }
  if (!(spec.parallel_alpha > 0.0 && spec.parallel_alpha < 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat("parallel_alpha must be in (0, 1), got ", spec.parallel_alpha));
  }
  if (!(spec.output_gain > 0.0) || !std::isfinite(spec.output_gain)) {
    return absl::InvalidArgumentError(absl::StrCat("output_gain must be > 0, got ", spec.output_gain));
  }
  absl::StatusOr<std::shared_ptr<ScientificModel>> physics = MakePhysics(spec);
  if (!physics.ok()) return physics.status();
  const auto d = static_cast<size_t>((*physics)->state_dim());
  if (spec.input_center.size() != spec.input_scale.size() ||
      (!spec.input_center.empty() && spec.input_center.size() != d)) {
    return absl::InvalidArgumentError(
        absl::StrCat("input_center and input_scale must both be empty or have ", d, " entries"));
  }
  for (size_t i = 0; i < spec.input_scale.size(); ++i) {
    if (!(spec.input_scale[i] > 0.0) || !std::isfinite(spec.input_center[i])) {
      return absl::InvalidArgumentError(absl::StrCat("input_scale[", i, "] must be > 0 (and input_center finite)"));
    }
  }
  if (spec.network == NetworkKind::kConv && (*physics)->FieldShape().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("network: conv needs a field model; ", spec.physics, " has a vector state (use mlp)"));
  }
  if (!spec.correction_components.empty()) {
    if (spec.composition == Composition::kNetworkOnly || spec.composition == Composition::kPhysicsOnly) {
      return absl::InvalidArgumentError(
          absl::StrCat("correction_components needs a hybrid composition, not ", CompositionName(spec.composition)));
    }
    for (size_t i = 0; i < spec.correction_components.size(); ++i) {
      const int64_t c = spec.correction_components[i];
      if (c < 0 || c >= static_cast<int64_t>(d)) {
        return absl::InvalidArgumentError(
            absl::StrCat("correction_components[", i, "] = ", c, " is not a state component in [0, ", d, ")"));
      }
    }
  }
  const bool black_box = dynamic_cast<const BlackBoxPhysics*>(physics->get()) != nullptr;
  if (black_box && spec.composition != Composition::kAdditive && spec.composition != Composition::kPhysicsOnly) {
    return absl::InvalidArgumentError(absl::StrCat("composition: black-box physics '", spec.physics,
                                                   "' supports additive and physics_only (x ← Ψ(x) + h·g(x)), not ",
                                                   CompositionName(spec.composition)));
  }
  if (spec.network == NetworkKind::kConv && spec.composition == Composition::kSerial) {
    return absl::InvalidArgumentError("network: conv supports additive, parallel and network_only compositions");
  }
  HybridModelSpec built = spec;
  if (scripted && !built.correction_module) {
    absl::StatusOr<std::shared_ptr<const TorchScriptCorrectionFile>> module =
        LoadTorchScriptCorrection(spec.correction_file, static_cast<int64_t>(d), spec.physics_options.dtype);
    if (!module.ok()) return module.status();
    built.correction_module = *std::move(module);
  }
  if (scripted && built.correction_module->state_dim() != static_cast<int64_t>(d)) {
    return absl::InvalidArgumentError(absl::StrCat("correction.torchscript_file '", spec.correction_file,
                                                   "' was checked for ", built.correction_module->state_dim(),
                                                   " components, the physics has ", d));
  }
  return std::shared_ptr<HybridModel>(new HybridModel(std::move(built), *std::move(physics)));
}

HybridModel::HybridModel(HybridModelSpec spec, std::shared_ptr<ScientificModel> physics)
    : spec_(std::move(spec)), physics_(register_module("physics", std::move(physics))) {
  black_box_ = dynamic_cast<const BlackBoxPhysics*>(physics_.get());
  const int64_t d = physics_->state_dim();
  const int64_t m = physics_->members();
  const at::ScalarType dtype = spec_.physics_options.dtype;
  if (spec_.network == NetworkKind::kTorchScript) {
    scripted_ = register_module("correction", ScriptedCorrection(spec_.correction_module, m, dtype));
  } else if (UsesNetwork(spec_.composition) && !spec_.hidden.empty()) {
    const uint64_t seed = spec_.physics_options.seed + 1;  // Independent of the θ jitter draw.
    if (spec_.network == NetworkKind::kConv) {
      MemberConvOptions options;
      options.field_shape = physics_->FieldShape();
      options.hidden = spec_.hidden;
      options.members = m;
      options.output_scale = spec_.output_scale;
      options.seed = seed;
      options.dtype = dtype;
      conv_ = register_module("correction", MemberConv(options));
    } else {
      MemberMlpOptions options;
      options.input = d;
      options.hidden = spec_.hidden;
      options.output = d;
      options.members = m;
      options.output_scale = spec_.output_scale;
      options.dropout = spec_.dropout;
      options.seed = seed;
      options.dtype = dtype;
      mlp_ = register_module("correction", MemberMlp(options));
    }
  }
  if (!spec_.noise_hidden.empty()) {
    MemberMlpOptions options;
    options.input = d;
    options.hidden = spec_.noise_hidden;
    options.output = d;
    options.members = m;
    options.output_scale = 0.01;  // Starts near log σ² = bias ≈ 0.
    options.seed = spec_.physics_options.seed + 2;
    options.dtype = dtype;
    noise_head_ = register_module("noise_head", MemberMlp(options));
  }
  if (!spec_.input_center.empty()) {
    const auto options = at::TensorOptions().dtype(at::kDouble);
    input_center_ = register_buffer("input_center", at::tensor(spec_.input_center, options).to(dtype));
    input_scale_ = register_buffer("input_scale", at::tensor(spec_.input_scale, options).to(dtype));
  }
  if (!spec_.correction_components.empty()) {
    at::Tensor mask = at::zeros({d}, at::TensorOptions().dtype(dtype));
    for (int64_t c : spec_.correction_components) mask[c] = 1.0;
    correction_mask_ = register_buffer("correction_mask", mask);
  }
  if (spec_.composition == Composition::kParallel) {
    const double logit = std::log(spec_.parallel_alpha / (1.0 - spec_.parallel_alpha));
    alpha_logit_ = register_parameter("alpha_logit", at::full({m}, logit, at::TensorOptions().dtype(dtype)));
  }
}

at::Tensor HybridModel::DiscreteStep(double, const at::Tensor& x, double h) const {
  TORCH_CHECK(black_box_ != nullptr, "DiscreteStep: ", spec_.physics, " is a vector field, not a black-box step");
  const at::Tensor psi = black_box_->Advance(x, h, 1);
  return has_correction() ? psi + h * Correction(x) : psi;
}

bool HybridModel::HasFusedRk4(const at::Tensor& x) const {
  if (!spec_.fused || black_box_ != nullptr || conv_ || scripted_) return false;
  if (spec_.composition != Composition::kAdditive && spec_.composition != Composition::kPhysicsOnly &&
      spec_.composition != Composition::kNetworkOnly) {
    return false;
  }
  if (spec_.composition != Composition::kNetworkOnly && physics_->pointwise() == nullptr) return false;
  if (mlp_ && spec_.dropout > 0.0 && mlp_->is_training()) return false;
  return x.dim() == 3 && x.size(0) == members() && x.size(2) == state_dim() && x.scalar_type() == dtype() &&
         x.device().is_cpu();
}

FusedField HybridModel::fused_field() const {
  FusedField field;
  if (spec_.composition != Composition::kNetworkOnly) {
    field.physics = physics_->pointwise();
    for (size_t i = 0; i < physics_->specs().size(); ++i) {
      field.raw_theta.push_back(physics_->Raw(i));
      field.positive.push_back(physics_->specs()[i].positive);
    }
  }
  if (mlp_ && UsesNetwork(spec_.composition)) {
    field.weights = mlp_->weights();
    field.biases = mlp_->biases();
    field.center = input_center_;
    field.scale = input_scale_;
    field.mask = correction_mask_;
    field.gain = spec_.output_gain;
  }
  return field;
}

at::Tensor HybridModel::FusedRk4Path(const at::Tensor& x, double h, int64_t steps, int64_t every) const {
  return solvers::FusedRk4Path(fused_field(), x, h, steps, every);
}

at::Tensor HybridModel::Network(const at::Tensor& x) const {
  at::Tensor g = conv_       ? conv_->Forward(x)
                 : scripted_ ? scripted_->Forward(x)
                             : mlp_->Forward(input_center_.defined() ? (x - input_center_) / input_scale_ : x);
  if (spec_.output_gain != 1.0) g = g * spec_.output_gain;
  return correction_mask_.defined() ? g * correction_mask_ : g;
}

at::Tensor HybridModel::Evaluate(double t, const at::Tensor& x) const {
  switch (spec_.composition) {
    case Composition::kPhysicsOnly:
      return physics_->Evaluate(t, x);
    case Composition::kNetworkOnly:
      return Network(x);
    case Composition::kSerial: {
      const at::Tensor u = physics_->Evaluate(t, x);
      return u + Network(u);
    }
    case Composition::kParallel: {
      const at::Tensor alpha = at::sigmoid(alpha_logit_).view({-1, 1, 1});
      return alpha * physics_->Evaluate(t, x) + (1.0 - alpha) * Network(x);
    }
    case Composition::kAdditive:
      break;
  }
  at::Tensor dxdt = physics_->Evaluate(t, x);
  if (has_correction()) dxdt = dxdt + Network(x);
  return dxdt;
}

at::Tensor HybridModel::Correction(const at::Tensor& x) const {
  if (!has_correction()) return at::zeros_like(x);
  switch (spec_.composition) {
    case Composition::kSerial:
      return Network(physics_->Evaluate(0.0, x));
    case Composition::kParallel:
      return (1.0 - at::sigmoid(alpha_logit_).view({-1, 1, 1})) * Network(x);
    default:
      return Network(x);
  }
}

at::Tensor HybridModel::LogVariance(const at::Tensor& x) const {
  TORCH_CHECK(noise_head_, "LogVariance: the model has no heteroscedastic head");
  return noise_head_->Forward(x);
}

at::Tensor HybridModel::Alpha() const {
  TORCH_CHECK(alpha_logit_.defined(), "Alpha: the model is not a parallel composition");
  return at::sigmoid(alpha_logit_);
}

std::vector<at::Tensor> HybridModel::ThetaParameters() const {
  if (spec_.composition == Composition::kNetworkOnly) return {};
  return physics_->TrainableRaw();
}

std::vector<at::Tensor> HybridModel::PhiParameters() const {
  std::vector<at::Tensor> phi;
  auto append = [&phi](const std::vector<at::Tensor>& more) { phi.insert(phi.end(), more.begin(), more.end()); };
  if (mlp_) append(mlp_->parameters());
  if (conv_) append(conv_->parameters());
  if (scripted_) append(scripted_->parameters());
  if (noise_head_) append(noise_head_->parameters());
  if (alpha_logit_.defined()) phi.push_back(alpha_logit_);
  return phi;
}

std::shared_ptr<HybridModel> HybridModel::Clone() const { return FirstMembers(members()); }

std::shared_ptr<HybridModel> HybridModel::FirstMembers(int64_t count) const {
  TORCH_CHECK(count >= 1 && count <= members(), "FirstMembers: count ", count, " outside [1, ", members(), "]");
  HybridModelSpec spec = spec_;
  spec.physics_options.members = count;
  if (black_box_ != nullptr) spec.black_box_step = black_box_->shared_step();
  if (const auto* scripted = dynamic_cast<const TorchScriptPhysics*>(physics_.get())) {
    spec.torchscript_module = scripted->module();  // Loaded and checked once.
  }
  std::shared_ptr<HybridModel> copy = Create(spec).value();  // spec_ was valid at Create, and so is a smaller M.
  // Member-batched tensors keep each member's entries in one leading block
  // ([M, …] for θ, α and MLP layers, [M·C, …] for grouped convolutions), so
  // the first `count` members are the leading rows of the copy's own size.
  at::NoGradGuard no_grad;
  const auto source = named_parameters(/*recurse=*/true);
  for (auto& item : copy->named_parameters(/*recurse=*/true)) {
    at::Tensor& to = item.value();
    const at::Tensor& from = source[item.key()];
    to.copy_(from.dim() > 0 && from.size(0) != to.size(0) ? from.narrow(0, 0, to.size(0)) : from);
  }
  return copy;
}

}  // namespace hybrid::solvers
