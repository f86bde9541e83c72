#include "solvers/scientific_model.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hybrid::solvers {

absl::Status ScientificModel::Validate(const std::vector<ParameterSpec>& specs,
                                       const PhysicsOptions& options) {
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
      return absl::InvalidArgumentError(absl::StrCat("parameters['", name, "'].initial = ", value,
                                                     " is outside [", spec->lower, ", ", spec->upper, "]"));
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
    at::Tensor raw = at::full({members_}, std::log(value), at::TensorOptions().dtype(at::kDouble));
    if (trainable && members_ > 1 && options.member_jitter > 0.0) {
      // Members start apart so that their spread says how well the data pins θ down.
      raw = raw + options.member_jitter * at::randn({members_}, generator, at::kDouble);
    }
    raw = raw.clamp(std::log(spec.lower), std::log(spec.upper)).to(options.dtype);
    raw_.push_back(register_parameter("log_" + spec.name, raw, /*requires_grad=*/trainable));
  }
}

at::Tensor ScientificModel::Value(size_t index) const { return raw_[index].exp(); }

std::vector<at::Tensor> ScientificModel::TrainableRaw() const {
  std::vector<at::Tensor> out;
  for (const at::Tensor& r : raw_)
    if (r.requires_grad()) out.push_back(r);
  return out;
}

void ScientificModel::ClampToBounds() {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < raw_.size(); ++i) {
    raw_[i].clamp_(std::log(specs_[i].lower), std::log(specs_[i].upper));
  }
}

}  // namespace hybrid::solvers
