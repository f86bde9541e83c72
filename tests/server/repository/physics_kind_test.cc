// The proto enum PhysicsKind and the physics catalog name the same models:
// every catalog entry has an enum value, every enum value (but UNSPECIFIED
// and the plugin and TorchScript kinds) names a catalog entry, and the mapping goes both ways.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "hybrid/v1/model_config.pb.h"
#include "server/repository/model_spec.h"
#include "solvers/physics/physics_catalog.h"

namespace hybrid::server {
namespace {

TEST(PhysicsKind, EveryCatalogModelHasAnEnumValueAndBack) {
  ASSERT_GE(solvers::PhysicsCatalog().size(), 10u);
  for (const solvers::PhysicsCatalogEntry& entry : solvers::PhysicsCatalog()) {
    absl::StatusOr<v1::PhysicsKind> kind = PhysicsKindOf(entry.name);
    ASSERT_TRUE(kind.ok()) << entry.name << ": " << kind.status();
    EXPECT_EQ(PhysicsName(*kind).value(), entry.name);
    EXPECT_FALSE(entry.summary.empty()) << entry.name;
  }
  const google::protobuf::EnumDescriptor* kinds = v1::PhysicsKind_descriptor();
  for (int i = 0; i < kinds->value_count(); ++i) {
    const auto kind = static_cast<v1::PhysicsKind>(kinds->value(i)->number());
    if (kind == v1::PHYSICS_KIND_UNSPECIFIED) continue;
    const std::string name = PhysicsName(kind).value();
    if (name == "plugin" || name == "torchscript") continue;  // Not built in: a file the config names.
    EXPECT_NE(solvers::FindPhysics(name), nullptr) << kinds->value(i)->name() << " is not in the catalog";
  }
}

TEST(PhysicsKind, UnknownValuesAndNamesAreRefused) {
  EXPECT_EQ(PhysicsName(v1::PHYSICS_KIND_UNSPECIFIED).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PhysicsName(static_cast<v1::PhysicsKind>(999)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PhysicsKindOf("no_such_model").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PhysicsKindOf("unspecified").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PhysicsCatalog, UnknownNamesListTheCatalog) {
  solvers::HybridModelSpec spec;
  spec.physics = "lorenz64";
  const absl::Status status = solvers::HybridModel::Create(spec).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  for (const solvers::PhysicsCatalogEntry& entry : solvers::PhysicsCatalog()) {
    EXPECT_NE(status.message().find(entry.name), absl::string_view::npos) << status;
  }
}

}  // namespace
}  // namespace hybrid::server
