#include "server/core/entities/entity_table.h"

#include <algorithm>

#include "base/model_shard.h"

namespace hybrid::server {

EntityTable::EntityTable() {
  const auto empty = std::make_shared<const Shard>();
  shards_.fill(empty);
}

size_t EntityTable::ShardOf(const std::string& name) { return static_cast<size_t>(base::ShardHash(name) % kShards); }

std::shared_ptr<const EntityState> EntityTable::Find(const std::string& name) const {
  const Shard& shard = *shards_[ShardOf(name)];
  const auto it = shard.find(name);
  return it == shard.end() ? nullptr : it->second;
}

EntityTable EntityTable::With(std::shared_ptr<const EntityState> entity) const {
  EntityTable out = *this;
  const size_t s = ShardOf(entity->name);
  auto shard = std::make_shared<Shard>(*shards_[s]);
  const std::string name = entity->name;
  const bool added = shard->insert_or_assign(name, std::move(entity)).second;
  out.shards_[s] = std::move(shard);
  if (added) ++out.size_;
  return out;
}

EntityTable EntityTable::Without(const std::string& name) const {
  const size_t s = ShardOf(name);
  if (shards_[s]->count(name) == 0) return *this;
  EntityTable out = *this;
  auto shard = std::make_shared<Shard>(*shards_[s]);
  shard->erase(name);
  out.shards_[s] = std::move(shard);
  --out.size_;
  return out;
}

std::vector<std::shared_ptr<const EntityState>> EntityTable::Page(const std::string& start_after, size_t limit) const {
  std::vector<std::shared_ptr<const EntityState>> out;
  for (const std::shared_ptr<const Shard>& shard : shards_) {
    for (auto it = start_after.empty() ? shard->begin() : shard->upper_bound(start_after); it != shard->end(); ++it) {
      out.push_back(it->second);
    }
  }
  auto by_name = [](const auto& a, const auto& b) { return a->name < b->name; };
  if (out.size() > limit) {
    std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(limit), out.end(), by_name);
    out.resize(limit);
  } else {
    std::sort(out.begin(), out.end(), by_name);
  }
  return out;
}

std::vector<std::shared_ptr<const EntityState>> EntityTable::All() const {
  return Page("", static_cast<size_t>(size_));
}

EntityTable::Changes EntityTable::ChangedSince(const EntityTable& before) const {
  Changes out;
  for (size_t s = 0; s < kShards; ++s) {
    if (shards_[s] == before.shards_[s]) continue;
    for (const auto& [name, entity] : *shards_[s]) {
      const auto old = before.shards_[s]->find(name);
      if (old == before.shards_[s]->end() || old->second != entity) out.changed.push_back(entity);
    }
    for (const auto& [name, entity] : *before.shards_[s]) {
      if (shards_[s]->count(name) == 0) out.removed.push_back(name);
    }
  }
  std::sort(out.changed.begin(), out.changed.end(), [](const auto& a, const auto& b) { return a->name < b->name; });
  std::sort(out.removed.begin(), out.removed.end());
  return out;
}

}  // namespace hybrid::server
