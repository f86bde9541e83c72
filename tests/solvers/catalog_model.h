// A physics model by its catalog name (solvers/physics/physics_catalog.h), as
// the hybrid model and the server build it: the way to reach catalog models
// that have no header of their own.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "solvers/physics/physics_catalog.h"

namespace hybrid::testing {

inline absl::StatusOr<std::shared_ptr<solvers::ScientificModel>> CatalogModel(const std::string& name,
                                                                              const solvers::PhysicsOptions& options) {
  const solvers::PhysicsCatalogEntry* entry = solvers::FindPhysics(name);
  if (entry == nullptr) return absl::NotFoundError(absl::StrCat("no catalog model '", name, "'"));
  return entry->create(options);
}

}  // namespace hybrid::testing
