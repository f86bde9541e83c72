// Checkpoints write their entities incrementally: a checkpoint's chain of
// entity files (a base, then deltas of what changed) resolves to exactly the
// entities it was written with, for every kept version; a delta holds only
// what changed; a new base starts when the deltas would outweigh the old one;
// files no kept checkpoint names are deleted; a reopened folder continues the
// chain; a checkpoint written with its entities inline (before entity files)
// still reads and migrates; a failed clean-up after a checkpoint does not
// fail it; a missing or foreign entity file is DATA_LOSS naming it.
#include "server/durability/model_durability.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/atomic_file.h"
#include "tests/scoped_temp_dir.h"

namespace hybrid::server {
namespace {

namespace fs = std::filesystem;
using Entities = std::map<std::string, double>;  // Name → the value its ensemble is filled with.

v1::StoredEntity Stored(const std::string& name, double value) {
  v1::StoredEntity e;
  e.set_name(name);
  e.mutable_ensemble()->add_shape(10);
  e.mutable_ensemble()->add_shape(20);
  for (int i = 0; i < 200; ++i) e.mutable_ensemble()->add_values(value + i);
  return e;
}

v1::StoredEntityFile FileOf(const Entities& entities, const std::vector<std::string>& deleted = {}) {
  v1::StoredEntityFile file;
  for (const auto& [name, value] : entities) *file.add_entities() = Stored(name, value);
  for (const std::string& name : deleted) file.add_deleted(name);
  return file;
}

Entities Read(const v1::StoredCheckpoint& checkpoint) {
  Entities out;
  std::string previous;
  for (const v1::StoredEntity& e : checkpoint.entities()) {
    EXPECT_LT(previous, e.name()) << "not in name order";
    previous = e.name();
    EXPECT_EQ(e.ensemble().values_size(), 200);
    out[e.name()] = e.ensemble().values(0);
    EXPECT_EQ(e.ensemble().values(199), e.ensemble().values(0) + 199);
  }
  return out;
}

std::set<std::string> FilesIn(const std::string& folder) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(folder, ec)) out.insert(e.path().filename().string());
  return out;
}

class EntityCheckpoints : public ::testing::Test {
 protected:
  void Open(int keep = 3) {
    durability_.reset();  // Its log's folder lock first.
    v1::DurabilityConfig config;
    config.set_checkpoint_every(1000);
    config.set_checkpoint_interval_seconds(300);
    config.set_keep_checkpoints(keep);
    config.set_wal_segment_bytes(1 << 20);
    durability_ = ModelDurability::Open(dir_.path(), config).value();
  }
  // Checkpoint `version` of `now`, given as what changed since `before`.
  void Write(uint64_t version, const Entities& before, const Entities& now) {
    Entities changed;
    std::vector<std::string> deleted;
    for (const auto& [name, value] : now) {
      if (!before.count(name) || before.at(name) != value) changed[name] = value;
    }
    for (const auto& [name, value] : before) {
      if (!now.count(name)) deleted.push_back(name);
    }
    v1::StoredCheckpoint checkpoint;
    checkpoint.set_version(version);
    ASSERT_TRUE(durability_->WriteCheckpoint(checkpoint, {FileOf(changed, deleted), [&] { return FileOf(now); }}).ok());
  }
  std::vector<std::string> Chain(uint64_t version) {
    const v1::StoredCheckpoint header = durability_->ReadCheckpointHeader(version).value();
    return {header.entity_files().begin(), header.entity_files().end()};
  }
  uint64_t Bytes(const std::string& file) { return fs::file_size(dir_.File("entities/" + file)); }

  testing::ScopedTempDir dir_;
  std::unique_ptr<ModelDurability> durability_;
};

TEST_F(EntityCheckpoints, DeltasHoldWhatChangedAndEveryVersionResolvesToItsEntities) {
  Open(/*keep=*/5);
  Entities v1;
  for (int i = 0; i < 20; ++i) v1["e" + std::to_string(100 + i)] = i;
  Write(1, {}, v1);
  ASSERT_EQ(Chain(1).size(), 1u);
  Entities v2 = v1;
  v2["e103"] = 1000;
  v2["e250"] = 2000;  // New.
  v2.erase("e110");   // Deleted.
  Write(2, v1, v2);
  const std::vector<std::string> chain = Chain(2);
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0], Chain(1)[0]);                 // The base is not written again.
  EXPECT_LT(Bytes(chain[1]) * 5, Bytes(chain[0]));  // 2 of 20 entities and a name.
  v1::StoredEntityFile delta;
  std::ifstream in(dir_.File("entities/" + chain[1]), std::ios::binary);
  ASSERT_TRUE(delta.ParseFromIstream(&in));
  ASSERT_EQ(delta.entities_size(), 2);
  EXPECT_EQ(delta.entities(0).name(), "e103");
  EXPECT_EQ(delta.entities(1).name(), "e250");
  EXPECT_EQ(std::vector<std::string>(delta.deleted().begin(), delta.deleted().end()), std::vector<std::string>{"e110"});
  EXPECT_EQ(Read(durability_->ReadCheckpoint(2).value()), v2);
  EXPECT_EQ(Read(durability_->ReadCheckpoint(1).value()), v1);  // Older versions keep their state.
  // No change: the same chain, no new file.
  const std::set<std::string> files = FilesIn(dir_.File("entities"));
  Write(3, v2, v2);
  EXPECT_EQ(Chain(3), chain);
  EXPECT_EQ(FilesIn(dir_.File("entities")), files);
  EXPECT_EQ(Read(durability_->ReadCheckpoint(3).value()), v2);
}

TEST_F(EntityCheckpoints, ANewBaseStartsWhenTheDeltasWouldOutweighTheOldOne) {
  Open(/*keep=*/2);
  Entities now;
  for (int i = 0; i < 10; ++i) now["e" + std::to_string(i)] = i;
  Write(1, {}, now);
  std::vector<size_t> lengths;
  for (uint64_t version = 2; version <= 40; ++version) {
    const Entities before = now;
    now["e" + std::to_string(version % 10)] = 100.0 * version;  // One of ten changes.
    Write(version, before, now);
    lengths.push_back(Chain(version).size());
    EXPECT_EQ(Read(durability_->ReadCheckpoint(version).value()), now) << "version " << version;
    // The deltas never outweigh their base.
    const std::vector<std::string> chain = Chain(version);
    uint64_t deltas = 0;
    for (size_t i = 1; i < chain.size(); ++i) deltas += Bytes(chain[i]);
    EXPECT_LE(deltas, Bytes(chain[0]));
    // Only the files the two kept checkpoints name are left.
    std::set<std::string> named(chain.begin(), chain.end());
    for (const std::string& f : Chain(version - 1)) named.insert(f);
    EXPECT_EQ(FilesIn(dir_.File("entities")), named) << "version " << version;
  }
  // Chains grow by one delta, then start again: about ten deltas of a tenth each.
  EXPECT_EQ(lengths[0], 2u);
  EXPECT_GE(*std::max_element(lengths.begin(), lengths.end()), 8u);
  EXPECT_LE(*std::max_element(lengths.begin(), lengths.end()), 11u);
  EXPECT_GE(std::count(lengths.begin(), lengths.end(), 1u), 3);
}

TEST_F(EntityCheckpoints, AReopenedFolderContinuesTheChain) {
  Open();
  const Entities v1{{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}, {"e", 5}, {"f", 6}};
  Write(1, {}, v1);
  Open();
  const std::optional<v1::StoredCheckpoint> latest = durability_->LatestCheckpoint().value();
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(Read(*latest), v1);
  Entities v2 = v1;
  v2["c"] = 30;
  Write(2, v1, v2);
  const std::vector<std::string> chain = Chain(2);
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0], Chain(1)[0]);
  EXPECT_GT(chain[1], chain[0]);  // Numbered after what the folder held.
  EXPECT_EQ(Read(durability_->ReadCheckpoint(2).value()), v2);
}

TEST_F(EntityCheckpoints, ACheckpointWithItsEntitiesInlineReadsAndTheNextStartsABase) {
  // As servers before entity files wrote it.
  const Entities v1{{"a", 1}, {"b", 2}};
  v1::StoredCheckpoint old;
  old.set_version(1);
  for (const auto& [name, value] : v1) *old.add_entities() = Stored(name, value);
  fs::create_directories(dir_.File("1"));
  ASSERT_TRUE(base::WriteFileAtomically(dir_.File("1/checkpoint.pb"), old.SerializeAsString()).ok());
  Open();
  const std::optional<v1::StoredCheckpoint> latest = durability_->LatestCheckpoint().value();
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(Read(*latest), v1);
  Write(2, v1, v1);  // Nothing changed, yet the entities must not stay behind in version 1.
  ASSERT_EQ(Chain(2).size(), 1u);
  EXPECT_EQ(Read(durability_->ReadCheckpoint(2).value()), v1);
  EXPECT_EQ(Read(durability_->ReadCheckpoint(1).value()), v1);
}

TEST_F(EntityCheckpoints, ACleanUpFailureAfterTheCheckpointDoesNotFailIt) {
  Open(/*keep=*/5);
  const Entities v1{{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}};
  Write(1, {}, v1);
  Entities v2 = v1;
  v2["e"] = 5;
  Write(2, v1, v2);
  // Version 1 unreadable: the clean-up after the next checkpoint cannot tell what it names.
  ASSERT_TRUE(base::WriteFileAtomically(dir_.File("1/checkpoint.pb"), "not a checkpoint").ok());
  Open(/*keep=*/5);
  ASSERT_TRUE(durability_->LatestCheckpoint().ok());
  Entities v3 = v2;
  v3.erase("e");
  Write(3, v2, v3);  // OK: the checkpoint stands; the clean-up is retried later.
  EXPECT_EQ(Read(durability_->ReadCheckpoint(3).value()), v3);
  Open(/*keep=*/5);
  EXPECT_EQ(Read(*durability_->LatestCheckpoint().value()), v3);  // The deletion is not lost.
}

TEST_F(EntityCheckpoints, AModelWithoutEntitiesWritesNoEntityFiles) {
  Open();
  v1::StoredCheckpoint checkpoint;
  checkpoint.set_version(1);
  ASSERT_TRUE(durability_->WriteCheckpoint(checkpoint, {}).ok());
  ASSERT_TRUE(durability_->WriteCheckpoint(checkpoint, {{}, [] { return v1::StoredEntityFile(); }}).ok());
  EXPECT_TRUE(Chain(1).empty());
  EXPECT_FALSE(fs::exists(dir_.File("entities")) && !FilesIn(dir_.File("entities")).empty());
}

TEST_F(EntityCheckpoints, AMissingOrForeignEntityFileIsDataLossNamingIt) {
  Open();
  const Entities v1{{"a", 1}, {"b", 2}, {"c", 3}};
  Write(1, {}, v1);
  const std::string base = Chain(1)[0];
  fs::rename(dir_.File("entities/" + base), dir_.File("moved"));
  Open();
  absl::StatusOr<std::optional<v1::StoredCheckpoint>> latest = durability_->LatestCheckpoint();
  EXPECT_EQ(latest.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(latest.status().message().find("entities/" + base), std::string::npos) << latest.status();
  fs::rename(dir_.File("moved"), dir_.File("entities/" + base));

  v1::StoredCheckpoint forged = durability_->ReadCheckpointHeader(1).value();
  forged.set_entity_files(0, "../1/checkpoint.pb");
  ASSERT_TRUE(base::WriteFileAtomically(dir_.File("1/checkpoint.pb"), forged.SerializeAsString()).ok());
  absl::StatusOr<v1::StoredCheckpoint> read = durability_->ReadCheckpoint(1);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(read.status().message().find("'../1/checkpoint.pb'"), std::string::npos) << read.status();
}

}  // namespace
}  // namespace hybrid::server
