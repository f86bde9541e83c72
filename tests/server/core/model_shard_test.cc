// Sharding: FNV-1a against its published test vectors; jump consistent
// hashing's defining properties (adding a replica moves ~1/(N+1) of the
// models, all to the new replica; balanced load); K/N parsing; and a registry that loads only its shard's models
// and refuses (naming the owner) to load another shard's.
#include "base/model_shard.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <vector>

#include "server/core/model_registry.h"
#include "tests/scoped_temp_dir.h"

namespace hybrid::server {
namespace {

using base::ParseShard;
using base::Shard;
using base::ShardHash;
using base::ShardOf;

const std::string kShipped = std::string(HYBRID_SOURCE_DIR) + "/deploy/model_repository";

TEST(ModelShard, HashIsFnv1a64) {
  // Test vectors of the FNV reference (Fowler, Noll, Vo; draft-eastlake-fnv).
  EXPECT_EQ(ShardHash(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(ShardHash("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(ShardHash("foobar"), 0x85944171f73967e8ull);
}

TEST(ModelShard, AddingAReplicaMovesOnlyModelsToItAndAboutAFairShare) {
  constexpr int kNames = 20000;
  for (int n = 1; n <= 8; ++n) {
    int moved = 0;
    std::vector<int> load(n + 1, 0);
    for (int i = 0; i < kNames; ++i) {
      const std::string name = "sensor-site-" + std::to_string(i);
      const int before = ShardOf(name, n), after = ShardOf(name, n + 1);
      ++load[after];
      if (after != before) {
        ++moved;
        EXPECT_EQ(after, n) << name << ": moved between old replicas";
      }
    }
    // Binomial(kNames, 1/(n+1)): 5 standard deviations.
    const double p = 1.0 / (n + 1), expected = kNames * p, sd = std::sqrt(kNames * p * (1 - p));
    EXPECT_NEAR(moved, expected, 5 * sd) << n << " → " << n + 1;
    for (int k = 0; k <= n; ++k) EXPECT_NEAR(load[k], expected, 5 * sd) << "replica " << k << " of " << n + 1;
  }
}

TEST(ModelShard, OwnersCoverEveryReplicaAndOneOwnsAll) {
  std::set<int> owners;
  for (int i = 0; i < 300; ++i) {
    const std::string name = "model" + std::to_string(i);
    const int owner = ShardOf(name, 3);
    ASSERT_GE(owner, 0);
    ASSERT_LT(owner, 3);
    owners.insert(owner);
    EXPECT_EQ(ShardOf(name, 1), 0);
    int owning = 0;
    for (int k = 0; k < 3; ++k) owning += Shard{k, 3}.Owns(name) ? 1 : 0;
    EXPECT_EQ(owning, 1) << name;
  }
  EXPECT_EQ(owners.size(), 3u);
}

TEST(ModelShard, ParseNamesTheFlag) {
  absl::StatusOr<Shard> shard = ParseShard("2/3");
  ASSERT_TRUE(shard.ok());
  EXPECT_EQ(shard->index, 2);
  EXPECT_EQ(shard->count, 3);
  EXPECT_EQ(shard->ToString(), "2/3");
  for (const char* bad : {"3/3", "-1/2", "1/0", "1", "a/b", "1/2/3", ""}) {
    const absl::Status status = ParseShard(bad).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(status.message().find("shard"), absl::string_view::npos) << status;
  }
}

TEST(ModelShard, EachReplicaLoadsOnlyItsModelsAndRefusesOthers) {
  testing::ScopedTempDir state;
  Metrics metrics;
  std::set<std::string> loaded_somewhere;
  for (int k = 0; k < 2; ++k) {
    ModelRegistry::Options options{.repository = kShipped, .state_root = state.File(std::to_string(k))};
    options.shard = Shard{k, 2};
    auto registry = ModelRegistry::Open(options, &metrics);
    ASSERT_TRUE(registry.ok()) << registry.status();
    for (const ModelStatus& status : (*registry)->List()) {
      const bool mine = ShardOf(status.name, 2) == k;
      EXPECT_EQ(status.state, mine ? ModelState::kReady : ModelState::kUnloaded) << status.name << " on " << k;
      if (mine) {
        loaded_somewhere.insert(status.name);
        continue;
      }
      const absl::Status load = (*registry)->Load(status.name);
      EXPECT_EQ(load.code(), absl::StatusCode::kFailedPrecondition) << status.name;
      EXPECT_NE(load.message().find("belongs to shard " + std::to_string(1 - k) + " of 2; this server is shard " +
                                    std::to_string(k) + "/2"),
                std::string::npos)
          << load;
      // A client that asks the wrong replica learns where the model lives.
      EXPECT_NE((*registry)->Find(status.name).status().message().find("belongs to shard"), std::string::npos);
    }
    // Naming another shard's model at start is a configuration error.
    for (const ModelStatus& status : (*registry)->List()) {
      if (ShardOf(status.name, 2) == k) continue;
      ModelRegistry::Options wrong = options;
      wrong.load_all = false;
      wrong.load = {status.name};
      EXPECT_EQ(ModelRegistry::Open(wrong, &metrics).status().code(), absl::StatusCode::kInvalidArgument);
      break;
    }
  }
  EXPECT_EQ(loaded_somewhere.size(), 4u);  // The two replicas cover the repository between them.
}

}  // namespace
}  // namespace hybrid::server
