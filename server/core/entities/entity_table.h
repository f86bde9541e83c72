// EntityTable: a model's entities (patients, assets, stations), as an
// immutable value that snapshots share: changing one entity copies only the
// shard that holds it (its name → pointer map, about 1/64 of the table), never
// an entity's state nor the other shards. So the calibration worker publishes a
// new table after every report at a cost that grows with entities / 64, and a
// Predict holding an older table keeps reading it unchanged.
//
//   EntityTable table;
//   table = table.With(std::make_shared<const EntityState>(state));   // add or replace
//   std::shared_ptr<const EntityState> e = table.Find("patient-17");  // null: none
//   table = table.Without("patient-17");
//
// Shards are chosen by a fixed hash of the name (base::ShardHash, FNV-1a),
// the same in every process. Values are immutable, hence safe to read from any thread; the
// worker is the only writer (it builds new values).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hybrid::server {

// One entity as the worker last left it. Arrays are row-major float64.
struct EntityState {
  std::string name;
  double time = 0.0;               // Its clock: the time of its latest report.
  uint64_t reports = 0;            // Reports applied.
  std::vector<double> ensemble;    // [M, D]: the analysis ensemble.
  std::vector<double> rates;       // One per config input (0 for boluses): the rates in force.
  std::vector<double> parameters;  // [M, P]: its per-entity parameters, raw (log of positive ones); P may be 0.
  std::vector<uint64_t> recent;    // ReportFingerprint of its latest reports (≤ kRecentReports), oldest first.
};

class EntityTable {
 public:
  static constexpr size_t kShards = 64;

  EntityTable();

  std::shared_ptr<const EntityState> Find(const std::string& name) const;
  EntityTable With(std::shared_ptr<const EntityState> entity) const;
  EntityTable Without(const std::string& name) const;  // Unchanged when absent.
  int64_t size() const { return size_; }

  // Entities whose names sort after `start_after` (empty: from the first), in
  // name order, at most `limit` of them.
  std::vector<std::shared_ptr<const EntityState>> Page(const std::string& start_after, size_t limit) const;
  // Every entity, in name order.
  std::vector<std::shared_ptr<const EntityState>> All() const;

  // What changed from `before` to this table: the entities `before` does not
  // hold as they are (added or replaced since, by pointer) and the names it
  // has that this table lacks, each in name order. Shards both tables share
  // are skipped, so the cost grows with the shards changed since.
  struct Changes {
    std::vector<std::shared_ptr<const EntityState>> changed;
    std::vector<std::string> removed;
  };
  Changes ChangedSince(const EntityTable& before) const;

 private:
  using Shard = std::map<std::string, std::shared_ptr<const EntityState>>;
  static size_t ShardOf(const std::string& name);

  std::array<std::shared_ptr<const Shard>, kShards> shards_;
  int64_t size_ = 0;
};

}  // namespace hybrid::server
