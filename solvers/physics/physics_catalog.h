// The physics catalog: every built-in scientific model a config may name, in
// one place. A model registers itself in its own .cc, inside namespace
// hybrid::solvers:
//
//   HYBRID_REGISTER_PHYSICS(lorenz63, "Lorenz-63 convection (sigma, rho, beta); structure beta_term",
//                           CatalogFactory<Lorenz63>)
//
// CMake finds the registrations (solvers/CMakeLists.txt scans physics/ and
// black_box/ for the macro) and generates the list this header's functions
// read, so no list of models is typed anywhere. HybridModel builds its physics
// from here, errors list these names, and the server maps the proto enum
// PhysicsKind onto them by name (PHYSICS_KIND_LORENZ63 ⇄ "lorenz63"). The
// steps to add a model are in solvers/physics/README.md.
//
// Thread-safety: the catalog is built once, on first use, and read-only after.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "solvers/physics/scientific_model.h"

namespace hybrid::solvers {

using PhysicsFactory = std::function<absl::StatusOr<std::shared_ptr<ScientificModel>>(const PhysicsOptions&)>;

struct PhysicsCatalogEntry {
  std::string name;     // What a config names: lower_snake_case, e.g. "lorenz63".
  std::string summary;  // One line: what it models, its parameters and structure keys.
  PhysicsFactory create;
};

// Every registered model, sorted by name.
const std::vector<PhysicsCatalogEntry>& PhysicsCatalog();
// Null when `name` is not in the catalog.
const PhysicsCatalogEntry* FindPhysics(absl::string_view name);
// "damped_pendulum, disease_progression, …": the names, for error messages.
std::string PhysicsCatalogNames();

// The factory of a model class with `static StatusOr<shared_ptr<Model>> Create(const PhysicsOptions&)`.
template <typename Model>
absl::StatusOr<std::shared_ptr<ScientificModel>> CatalogFactory(const PhysicsOptions& options) {
  absl::StatusOr<std::shared_ptr<Model>> model = Model::Create(options);
  if (!model.ok()) return model.status();
  return std::shared_ptr<ScientificModel>(*std::move(model));
}

// The factory of a model whose only options are its parameters (no structure
// keys): `specs()` checked, then Model(options).
template <typename Model, const std::vector<ParameterSpec>& (*specs)()>
absl::StatusOr<std::shared_ptr<ScientificModel>> ParametersOnlyFactory(const PhysicsOptions& options) {
  ScientificModel::OptionsReader read(specs(), options, /*known=*/{});
  if (!read.status().ok()) return read.status();
  return std::make_shared<Model>(options);
}

}  // namespace hybrid::solvers

// Registers a catalog model; use once, inside namespace hybrid::solvers, in
// the model's .cc. `id` is its config name (a C identifier).
// The factory may hold commas (a template's arguments): it is the rest.
#define HYBRID_REGISTER_PHYSICS(id, summary, ...) \
  PhysicsCatalogEntry RegisteredPhysics_##id() { return {#id, summary, __VA_ARGS__}; }
