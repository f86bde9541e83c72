// Translation between a served model's config (hybrid.v1.ModelConfig) and the
// solver library's HybridModelSpec, in both directions, so that a model
// trained offline (experiments/) and one declared by hand load the same way.
//
//   absl::StatusOr<solvers::HybridModelSpec> spec = SpecFromConfig(config);
//   v1::ModelConfig config = ConfigFromModel(model, "lorenz63_closure", "…");
//
// SpecFromConfig expects defaults applied (ParseModelConfig) and answers
// INVALID_ARGUMENT naming the field for an unknown enum value; the solvers
// validate the rest when the model is created. ConfigFromModel writes every
// physical parameter with its current member-mean value as `initial`.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "hybrid/v1/model_config.pb.h"
#include "solvers/hybrid/hybrid_model.h"

namespace hybrid::server {

absl::StatusOr<solvers::HybridModelSpec> SpecFromConfig(const v1::ModelConfig& config);

// PhysicsKind ⇄ physics-catalog name (solvers/physics/physics_catalog.h), by
// the enum value's own name: PHYSICS_KIND_LORENZ63 ⇄ "lorenz63". INVALID_ARGUMENT
// for UNSPECIFIED, an unknown value, or a name the enum lacks.
absl::StatusOr<std::string> PhysicsName(v1::PhysicsKind kind);
absl::StatusOr<v1::PhysicsKind> PhysicsKindOf(const std::string& physics);

// The config that rebuilds `model`'s architecture (defaults not applied);
// the trained values themselves go in its trained weights (checkpoint.pt).
// Module files keep the spec's paths (ExportModelEntry copies them into the
// entry and names them there).
absl::StatusOr<v1::ModelConfig> ConfigFromModel(const solvers::HybridModel& model, const std::string& name,
                                                const std::string& description);

}  // namespace hybrid::server
