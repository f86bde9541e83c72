#include "server/repository/model_spec.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace hybrid::server {
namespace {

const std::vector<std::pair<v1::Composition, solvers::Composition>>& Compositions() {
  static const auto* compositions = new std::vector<std::pair<v1::Composition, solvers::Composition>>{
      {v1::COMPOSITION_ADDITIVE, solvers::Composition::kAdditive},
      {v1::COMPOSITION_SERIAL, solvers::Composition::kSerial},
      {v1::COMPOSITION_PARALLEL, solvers::Composition::kParallel},
      {v1::COMPOSITION_PHYSICS_ONLY, solvers::Composition::kPhysicsOnly},
      {v1::COMPOSITION_NETWORK_ONLY, solvers::Composition::kNetworkOnly},
  };
  return *compositions;
}

const std::vector<std::pair<v1::NetworkKind, solvers::NetworkKind>>& Networks() {
  static const auto* networks = new std::vector<std::pair<v1::NetworkKind, solvers::NetworkKind>>{
      {v1::NETWORK_KIND_MLP, solvers::NetworkKind::kMlp},
      {v1::NETWORK_KIND_CONV, solvers::NetworkKind::kConv},
      {v1::NETWORK_KIND_TORCHSCRIPT, solvers::NetworkKind::kTorchScript},
  };
  return *networks;
}

solvers::BlackBoxParameter FromConfig(const v1::PluginParameter& q) {
  return {q.name(), q.unit(), q.default_value(), q.lower(), q.upper(), !q.may_be_negative(), q.description()};
}

void ToConfig(const solvers::BlackBoxParameter& q, v1::PluginParameter* out) {
  out->set_name(q.name);
  out->set_unit(q.unit);
  out->set_default_value(q.default_value);
  out->set_lower(q.lower);
  out->set_upper(q.upper);
  out->set_may_be_negative(!q.positive);
  out->set_description(q.description);
}

}  // namespace

// The enum's value names are the catalog's names in upper case: one fact, no table.
absl::StatusOr<std::string> PhysicsName(v1::PhysicsKind kind) {
  constexpr absl::string_view kPrefix = "PHYSICS_KIND_";
  if (kind == v1::PHYSICS_KIND_UNSPECIFIED || !v1::PhysicsKind_IsValid(kind)) {
    return absl::InvalidArgumentError(absl::StrCat("physics: unsupported kind ", kind));
  }
  std::string name(absl::StripPrefix(v1::PhysicsKind_Name(kind), kPrefix));
  absl::AsciiStrToLower(&name);
  return name;
}

absl::StatusOr<v1::PhysicsKind> PhysicsKindOf(const std::string& physics) {
  v1::PhysicsKind kind = v1::PHYSICS_KIND_UNSPECIFIED;
  if (!v1::PhysicsKind_Parse(absl::StrCat("PHYSICS_KIND_", absl::AsciiStrToUpper(physics)), &kind) ||
      kind == v1::PHYSICS_KIND_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat("physics '", physics, "' has no PhysicsKind"));
  }
  return kind;
}

absl::StatusOr<solvers::HybridModelSpec> SpecFromConfig(const v1::ModelConfig& config) {
  solvers::HybridModelSpec spec;
  absl::StatusOr<std::string> physics = PhysicsName(config.physics());
  if (!physics.ok()) return physics.status();
  spec.physics = *std::move(physics);
  if (config.physics() == v1::PHYSICS_KIND_PLUGIN) {
    const v1::PluginConfig& plugin = config.plugin();
    spec.plugin.library = plugin.library();
    spec.plugin.state_dim = plugin.state_dim();
    for (const v1::PluginParameter& q : plugin.parameters()) spec.plugin.parameters.push_back(FromConfig(q));
  } else if (config.has_plugin()) {
    return absl::InvalidArgumentError("plugin: only for physics PHYSICS_KIND_PLUGIN");
  }
  if (config.physics() == v1::PHYSICS_KIND_TORCHSCRIPT) {
    const v1::TorchScriptConfig& scripted = config.torchscript();
    spec.torchscript.file = scripted.file();
    for (const v1::StateComponentConfig& c : scripted.components()) {
      spec.torchscript.components.emplace_back(c.name(), c.unit().empty() ? "1" : c.unit(), c.non_negative());
    }
    for (const v1::PluginParameter& q : scripted.parameters()) spec.torchscript.parameters.push_back(FromConfig(q));
    for (const v1::ObservableConfig& o : config.observables()) spec.torchscript.observables += o.scripted() ? 1 : 0;
  } else if (config.has_torchscript()) {
    return absl::InvalidArgumentError("torchscript: only for physics PHYSICS_KIND_TORCHSCRIPT");
  }
  solvers::PhysicsOptions& p = spec.physics_options;
  p.structure.insert(config.structure().begin(), config.structure().end());
  p.members = config.ensemble_members();
  p.member_jitter = config.member_jitter();
  p.seed = config.seed();
  p.dtype = config.dtype() == "float32" ? at::kFloat : at::kDouble;
  for (const v1::ParameterConfig& param : config.parameters()) {
    p.initial[param.name()] = param.initial();
    if (param.trainable()) p.trainable.insert(param.name());
  }
  const v1::CorrectionConfig& c = config.correction();
  spec.hidden.assign(c.hidden().begin(), c.hidden().end());
  spec.output_scale = c.output_scale();
  bool known = false;
  for (const auto& [proto, composition] : Compositions()) {
    if (proto == c.composition()) spec.composition = composition, known = true;
  }
  if (!known) {
    return absl::InvalidArgumentError(absl::StrCat("correction.composition: unsupported value ", c.composition()));
  }
  known = c.network() == v1::NETWORK_KIND_UNSPECIFIED;  // Means MLP, spec's default.
  for (const auto& [proto, network] : Networks()) {
    if (proto == c.network()) spec.network = network, known = true;
  }
  if (!known) return absl::InvalidArgumentError(absl::StrCat("correction.network: unsupported value ", c.network()));
  if (spec.network == solvers::NetworkKind::kTorchScript) {
    spec.correction_file = c.torchscript_file();
  } else if (!c.torchscript_file().empty()) {
    return absl::InvalidArgumentError("correction.torchscript_file: only for network NETWORK_KIND_TORCHSCRIPT");
  }
  spec.dropout = c.dropout();
  spec.parallel_alpha = c.parallel_alpha();
  spec.noise_hidden.assign(c.noise_hidden().begin(), c.noise_hidden().end());
  spec.input_center.assign(c.input_center().begin(), c.input_center().end());
  spec.input_scale.assign(c.input_scale().begin(), c.input_scale().end());
  spec.output_gain = c.output_gain();
  spec.correction_components.assign(c.components().begin(), c.components().end());
  return spec;
}

absl::StatusOr<v1::ModelConfig> ConfigFromModel(const solvers::HybridModel& model, const std::string& name,
                                                const std::string& description) {
  const solvers::HybridModelSpec& spec = model.spec();
  v1::ModelConfig config;
  config.set_name(name);
  config.set_description(description);
  absl::StatusOr<v1::PhysicsKind> kind = PhysicsKindOf(spec.physics);
  if (!kind.ok()) return kind.status();
  config.set_physics(*kind);
  if (spec.physics == "plugin") {
    v1::PluginConfig& plugin = *config.mutable_plugin();
    plugin.set_library(spec.plugin.library);
    plugin.set_state_dim(static_cast<int32_t>(spec.plugin.state_dim));
    for (const solvers::BlackBoxParameter& q : spec.plugin.parameters) ToConfig(q, plugin.add_parameters());
  }
  if (spec.physics == "torchscript") {
    v1::TorchScriptConfig& scripted = *config.mutable_torchscript();
    scripted.set_file(spec.torchscript.file);
    for (const solvers::StateComponent& c : spec.torchscript.components) {
      v1::StateComponentConfig& out = *scripted.add_components();
      out.set_name(c.name);
      out.set_unit(c.unit);
      out.set_non_negative(c.non_negative);
    }
    for (const solvers::BlackBoxParameter& q : spec.torchscript.parameters) ToConfig(q, scripted.add_parameters());
  }
  const solvers::PhysicsOptions& p = spec.physics_options;
  config.mutable_structure()->insert(p.structure.begin(), p.structure.end());
  config.set_ensemble_members(static_cast<int32_t>(model.members()));
  config.set_member_jitter(p.member_jitter);
  config.set_seed(p.seed);
  config.set_dtype(model.dtype() == at::kFloat ? "float32" : "float64");
  const auto& parameters = model.physics().specs();
  for (size_t i = 0; i < parameters.size(); ++i) {
    v1::ParameterConfig* param = config.add_parameters();
    param->set_name(parameters[i].name);
    // The checkpoint holds the exact values; this one is for people and for
    // validation, so keep it inside the bounds that float32 rounding of
    // exp(log value) can overstep by an ulp.
    const double mean = model.physics().Value(i).to(at::kDouble).mean().item<double>();
    param->set_initial(std::clamp(mean, parameters[i].lower, parameters[i].upper));
    param->set_trainable(p.trainable.count(parameters[i].name) > 0);
  }
  v1::CorrectionConfig& c = *config.mutable_correction();
  for (int64_t h : spec.hidden) c.add_hidden(static_cast<int32_t>(h));
  c.set_output_scale(spec.output_scale);
  for (const auto& [proto, composition] : Compositions()) {
    if (composition == spec.composition) c.set_composition(proto);
  }
  for (const auto& [proto, network] : Networks()) {
    if (network == spec.network) c.set_network(proto);
  }
  c.set_torchscript_file(spec.correction_file);
  c.set_dropout(spec.dropout);
  c.set_parallel_alpha(spec.parallel_alpha);
  for (int64_t h : spec.noise_hidden) c.add_noise_hidden(static_cast<int32_t>(h));
  for (double v : spec.input_center) c.add_input_center(v);
  for (double v : spec.input_scale) c.add_input_scale(v);
  c.set_output_gain(spec.output_gain);
  for (int64_t k : spec.correction_components) c.add_components(static_cast<int32_t>(k));
  return config;
}

}  // namespace hybrid::server
