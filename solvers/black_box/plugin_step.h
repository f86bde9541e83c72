// PluginStep: a BlackBoxStep from a shared library that implements the C ABI
// of plugins/hybrid_physics_plugin.h, loaded by path with dlopen.
//
//   PluginDescription d{"/opt/solvers/libl96.so", 40, {{"F", "1", 8.0, 1e-3, 1e3}}};
//   absl::StatusOr<std::shared_ptr<const BlackBoxStep>> psi = LoadPluginStep(d);
//
// The library describes no metadata: the state dimension and parameters come
// from the model config. Load checks the ABI version and required symbols and
// runs one probe step from the zero state with the default parameters, so a
// plugin that rejects (n, p) fails at load time, not at the first observation.
// Errors: INVALID_ARGUMENT naming the config field (`plugin.library`,
// `plugin.state_dim`, `plugin.parameters[i]`) for a missing file, a dlopen
// failure, a missing symbol, another ABI version or bad parameter bounds.
// The library stays loaded while any PluginStep made from it exists.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "solvers/black_box/black_box_step.h"

namespace hybrid::solvers {

struct PluginDescription {
  std::string library;  // Path of the shared library.
  int64_t state_dim = 0;
  std::vector<BlackBoxParameter> parameters;
};

absl::StatusOr<std::shared_ptr<const BlackBoxStep>> LoadPluginStep(const PluginDescription& description);

}  // namespace hybrid::solvers
