#include "solvers/black_box/plugin_step.h"

#include <dlfcn.h>

#include <climits>
#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace hybrid::solvers {
namespace {

using AbiVersionFn = int (*)();
using StepFn = int (*)(int, const double*, int, const double*, double, int, double*);
using TangentFn = int (*)(int, const double*, int, const double*, double, int, const double*, double*);

constexpr int kAbiVersion = 1;  // HYBRID_PLUGIN_ABI_VERSION

// Owns the dlopen handle; shared by every PluginStep of the library.
struct Library {
  void* handle = nullptr;
  ~Library() {
    if (handle != nullptr) dlclose(handle);
  }
};

class PluginStep : public BlackBoxStep {
 public:
  PluginStep(PluginDescription d, std::shared_ptr<Library> library, StepFn step, TangentFn tangent)
      : description_(std::move(d)), library_(std::move(library)), step_(step), tangent_(tangent) {}

  std::string name() const override { return absl::StrCat("plugin:", description_.library); }
  int64_t state_dim() const override { return description_.state_dim; }
  const std::vector<BlackBoxParameter>& parameters() const override { return description_.parameters; }
  bool has_tangent_linear() const override { return tangent_ != nullptr; }

  absl::Status Advance(const double* x, const double* theta, double h, int64_t steps, double* out) const override {
    if (steps > INT_MAX)
      return absl::InvalidArgumentError(absl::StrCat("steps = ", steps, " is too many for a plugin"));
    const int code = step_(static_cast<int>(state_dim()), x, static_cast<int>(parameters().size()), theta, h,
                           static_cast<int>(steps), out);
    return Check("hybrid_plugin_step", code, out);
  }

  absl::Status TangentLinear(const double* x, const double* theta, double h, int64_t steps, const double* dx,
                             double* dout) const override {
    if (tangent_ == nullptr) return BlackBoxStep::TangentLinear(x, theta, h, steps, dx, dout);
    if (steps > INT_MAX)
      return absl::InvalidArgumentError(absl::StrCat("steps = ", steps, " is too many for a plugin"));
    const int code = tangent_(static_cast<int>(state_dim()), x, static_cast<int>(parameters().size()), theta, h,
                              static_cast<int>(steps), dx, dout);
    return Check("hybrid_plugin_tangent_linear", code, dout);
  }

 private:
  absl::Status Check(const char* function, int code, const double* out) const {
    if (code != 0) {
      return absl::FailedPreconditionError(absl::StrCat(name(), ": ", function, " returned error code ", code));
    }
    for (int64_t i = 0; i < state_dim(); ++i) {
      if (!std::isfinite(out[i])) {
        return absl::FailedPreconditionError(
            absl::StrCat(name(), ": ", function, " returned a non-finite value at component ", i));
      }
    }
    return absl::OkStatus();
  }

  PluginDescription description_;
  std::shared_ptr<Library> library_;
  StepFn step_;
  TangentFn tangent_;
};

absl::Status ValidateDescription(const PluginDescription& d) {
  if (d.state_dim < 1 || d.state_dim > 1000000) {
    return absl::InvalidArgumentError(absl::StrCat("plugin.state_dim must be in [1, 1000000], got ", d.state_dim));
  }
  return ValidateParameters(d.parameters, "plugin.parameters");
}

}  // namespace

absl::StatusOr<std::shared_ptr<const BlackBoxStep>> LoadPluginStep(const PluginDescription& d) {
  if (absl::Status s = ValidateDescription(d); !s.ok()) return s;
  std::error_code error;
  if (!std::filesystem::is_regular_file(d.library, error)) {
    return absl::InvalidArgumentError(absl::StrCat("plugin.library: no such file '", d.library, "'"));
  }
  auto library = std::make_shared<Library>();
  // RTLD_LOCAL: two plugins may export the same symbol names.
  library->handle = dlopen(d.library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library->handle == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("plugin.library: cannot load '", d.library, "': ", dlerror()));
  }
  auto symbol = [&](const char* name) { return dlsym(library->handle, name); };
  auto version = reinterpret_cast<AbiVersionFn>(symbol("hybrid_plugin_abi_version"));
  auto step = reinterpret_cast<StepFn>(symbol("hybrid_plugin_step"));
  auto tangent = reinterpret_cast<TangentFn>(symbol("hybrid_plugin_tangent_linear"));
  if (version == nullptr || step == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("plugin.library: '", d.library,
                                                   "' does not export hybrid_plugin_abi_version and "
                                                   "hybrid_plugin_step (see plugins/hybrid_physics_plugin.h)"));
  }
  if (const int v = version(); v != kAbiVersion) {
    return absl::InvalidArgumentError(absl::StrCat("plugin.library: '", d.library, "' implements plugin ABI version ",
                                                   v, "; this server speaks version ", kAbiVersion));
  }
  auto plugin = std::make_shared<PluginStep>(d, std::move(library), step, tangent);

  // Probe: a plugin that does not support this (state_dim, parameters) says so now.
  std::vector<double> x(static_cast<size_t>(d.state_dim), 0.0), out(x.size());
  std::vector<double> theta;
  for (const BlackBoxParameter& p : d.parameters) theta.push_back(p.default_value);
  if (absl::Status s = plugin->Advance(x.data(), theta.data(), 1e-3, 1, out.data()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("plugin.state_dim / plugin.parameters: a probe step of '", d.library,
                                                   "' with state_dim ", d.state_dim, " and ", d.parameters.size(),
                                                   " parameters failed: ", s.message()));
  }
  return std::shared_ptr<const BlackBoxStep>(std::move(plugin));
}

}  // namespace hybrid::solvers
