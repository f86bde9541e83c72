// Sharding models across replicas: with N replicas, replica K serves the
// repository models whose name maps to K: jump consistent hash (Lamping &
// Veach 2014) of the name's FNV-1a 64-bit hash. Every replica and every client
// computes the same owner from the name alone, so no coordination service is
// needed; going from N to N+1 replicas moves only the models whose new owner
// is replica N, about 1/(N+1) of them (deploy/k8s/README.md).
//
//   absl::StatusOr<Shard> shard = ParseShard("2/3");   // replica 2 of 3
//   bool mine = shard->Owns("lorenz63");
//   int owner = ShardOf("lorenz63", 3);
//
// Thread-safe (pure functions).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hybrid::base {

// FNV-1a, 64-bit, of the bytes of `name`.
uint64_t ShardHash(absl::string_view name);
// Jump consistent hash: the bucket in [0, buckets) of `key`; buckets ≥ 1.
int JumpConsistentHash(uint64_t key, int buckets);
// The replica in [0, count) that owns `name`: JumpConsistentHash(ShardHash(name), count).
int ShardOf(absl::string_view name, int count);

struct Shard {
  int index = 0;
  int count = 1;  // 1: one replica owns every model.
  bool Owns(absl::string_view name) const { return ShardOf(name, count) == index; }
  std::string ToString() const;  // "K/N".
};

// "K/N" with 0 ≤ K < N; INVALID_ARGUMENT naming `shard` otherwise.
absl::StatusOr<Shard> ParseShard(absl::string_view text);

}  // namespace hybrid::base
