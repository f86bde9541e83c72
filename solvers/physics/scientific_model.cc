#include "solvers/physics/scientific_model.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hybrid::solvers {

absl::Status ScientificModel::Validate(const std::vector<ParameterSpec>& specs, const PhysicsOptions& options) {
  if (options.members < 1) {
    return absl::InvalidArgumentError(absl::StrCat("ensemble_members must be ≥ 1, got ", options.members));
  }
  if (!(options.member_jitter >= 0.0) || !std::isfinite(options.member_jitter)) {
    return absl::InvalidArgumentError(
        absl::StrCat("member_jitter must be finite and ≥ 0, got ", options.member_jitter));
  }
  auto known = [&](const std::string& name) -> const ParameterSpec* {
    for (const ParameterSpec& s : specs)
      if (s.name == name) return &s;
    return nullptr;
  };
  for (const auto& [name, value] : options.initial) {
    const ParameterSpec* spec = known(name);
    if (spec == nullptr) return absl::InvalidArgumentError(absl::StrCat("parameters: unknown parameter '", name, "'"));
    if (!std::isfinite(value) || value < spec->lower || value > spec->upper) {
      return absl::InvalidArgumentError(absl::StrCat("parameters['", name, "'].initial = ", value, " is outside [",
                                                     spec->lower, ", ", spec->upper, "]"));
    }
  }
  for (const std::string& name : options.trainable) {
    if (known(name) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("parameters: unknown parameter '", name, "'"));
    }
  }
  return absl::OkStatus();
}

ScientificModel::ScientificModel(std::vector<ParameterSpec> specs, const PhysicsOptions& options)
    : specs_(std::move(specs)), members_(options.members) {
  at::Generator generator = at::detail::createCPUGenerator(options.seed);
  for (const ParameterSpec& spec : specs_) {
    const auto it = options.initial.find(spec.name);
    const double value = it == options.initial.end() ? spec.default_value : it->second;
    const bool trainable = options.trainable.count(spec.name) > 0;
    at::Tensor raw =
        at::full({members_}, spec.positive ? std::log(value) : value, at::TensorOptions().dtype(at::kDouble));
    if (trainable && members_ > 1 && options.member_jitter > 0.0) {
      // Members start apart so that their spread says how well the data pins θ down.
      const double scale = spec.positive ? 1.0 : std::max(std::abs(value), 1e-12);
      raw = raw + options.member_jitter * scale * at::randn({members_}, generator, at::kDouble);
    }
    raw = spec.positive ? raw.clamp(std::log(spec.lower), std::log(spec.upper)) : raw.clamp(spec.lower, spec.upper);
    raw_.push_back(register_parameter((spec.positive ? "log_" : "") + spec.name, raw.to(options.dtype),
                                      /*requires_grad=*/trainable));
  }
}

at::Tensor ScientificModel::Value(size_t index) const {
  return specs_[index].positive ? raw_[index].exp() : raw_[index];
}

at::Tensor ScientificModel::MemberValue(size_t index, int64_t rank) const {
  std::vector<int64_t> shape(static_cast<size_t>(rank), 1);
  shape[0] = members_;
  return Value(index).view(shape);
}

void ScientificModel::CheckState(const at::Tensor& x) const {
  TORCH_CHECK(x.dim() == 3 && x.size(0) == members_ && x.size(2) == state_dim(), "expected a state [M=", members_,
              ", B, D=", state_dim(), "], got ", x.sizes());
}

absl::StatusOr<int64_t> ScientificModel::StructureInt(const PhysicsOptions& options, const std::string& key,
                                                      int64_t fallback, int64_t lowest, int64_t highest) {
  const auto it = options.structure.find(key);
  if (it == options.structure.end()) return fallback;
  const double v = it->second;
  if (!(v >= static_cast<double>(lowest) && v <= static_cast<double>(highest)) || v != std::floor(v)) {
    return absl::InvalidArgumentError(
        absl::StrCat("structure.", key, " = ", v, " must be an integer in [", lowest, ", ", highest, "]"));
  }
  return static_cast<int64_t>(v);
}

absl::StatusOr<double> ScientificModel::StructureReal(const PhysicsOptions& options, const std::string& key,
                                                      double fallback, double lowest, double highest) {
  const auto it = options.structure.find(key);
  if (it == options.structure.end()) return fallback;
  if (!(it->second >= lowest && it->second <= highest)) {
    return absl::InvalidArgumentError(
        absl::StrCat("structure.", key, " = ", it->second, " must be in [", lowest, ", ", highest, "]"));
  }
  return it->second;
}

std::vector<StateComponent> GridComponents(const std::string& channel, const std::string& unit, int64_t rows,
                                           int64_t cols, bool non_negative) {
  std::vector<StateComponent> out;
  for (int64_t r = 0; r < rows; ++r) {
    if (cols == 0) out.push_back({absl::StrCat(channel, "[", r, "]"), unit, non_negative, {r}});
    for (int64_t c = 0; c < cols; ++c) {
      out.push_back({absl::StrCat(channel, "[", r, ",", c, "]"), unit, non_negative, {r, c}});
    }
  }
  return out;
}

at::Tensor NonNegativeFloor(const std::vector<StateComponent>& components, const at::TensorOptions& options) {
  std::vector<double> lower(components.size(), -std::numeric_limits<double>::infinity());
  bool any = false;
  for (size_t i = 0; i < components.size(); ++i) {
    if (components[i].non_negative) lower[i] = 0.0, any = true;
  }
  return any ? at::tensor(lower, options) : at::Tensor();
}

at::Tensor RaiseToFloor(const at::Tensor& x, const at::Tensor& floor) {
  return floor.defined() ? at::maximum(x, floor) : x;
}

at::Tensor ClampNonNegative(const std::vector<StateComponent>& components, const at::Tensor& x) {
  return RaiseToFloor(x, NonNegativeFloor(components, x.options()));
}

std::vector<StateComponent> ScientificModel::Components() const {
  std::vector<StateComponent> out;
  for (int64_t i = 0; i < state_dim(); ++i) out.push_back({absl::StrCat("x", i), "1"});
  return out;
}

ScientificModel::OptionsReader::OptionsReader(const std::vector<ParameterSpec>& specs, const PhysicsOptions& options,
                                              const std::vector<std::string>& known)
    : options_(options), status_(Validate(specs, options)) {
  if (status_.ok()) status_ = CheckStructureKeys(options, known);
}

int64_t ScientificModel::OptionsReader::Int(const std::string& key, int64_t fallback, int64_t lowest, int64_t highest) {
  if (!status_.ok()) return fallback;
  absl::StatusOr<int64_t> value = StructureInt(options_, key, fallback, lowest, highest);
  status_ = value.status();
  return value.value_or(fallback);
}

double ScientificModel::OptionsReader::Real(const std::string& key, double fallback, double lowest, double highest) {
  if (!status_.ok()) return fallback;
  absl::StatusOr<double> value = StructureReal(options_, key, fallback, lowest, highest);
  status_ = value.status();
  return value.value_or(fallback);
}

absl::Status ScientificModel::CheckStructureKeys(const PhysicsOptions& options, const std::vector<std::string>& known) {
  for (const auto& [key, value] : options.structure) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat("structure.", key, " is not a setting of this model"));
    }
  }
  return absl::OkStatus();
}

std::vector<at::Tensor> ScientificModel::TrainableRaw() const {
  std::vector<at::Tensor> out;
  for (const at::Tensor& r : raw_)
    if (r.requires_grad()) out.push_back(r);
  return out;
}

void ScientificModel::ClampToBounds() {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < raw_.size(); ++i) {
    if (specs_[i].positive) {
      raw_[i].clamp_(std::log(specs_[i].lower), std::log(specs_[i].upper));
    } else {
      raw_[i].clamp_(specs_[i].lower, specs_[i].upper);
    }
  }
}

}  // namespace hybrid::solvers
