#include "base/model_shard.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace hybrid::base {

uint64_t ShardHash(absl::string_view name) {
  uint64_t hash = 14695981039346656037ull;  // FNV-1a offset basis and prime (64-bit).
  for (unsigned char c : name) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

int JumpConsistentHash(uint64_t key, int buckets) {
  // Lamping & Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm" (2014), figure 1.
  int64_t b = -1, j = 0;
  while (j < buckets) {
    b = j;
    key = key * 2862933555777941757ull + 1;
    j = static_cast<int64_t>(static_cast<double>(b + 1) *
                             (static_cast<double>(1LL << 31) / static_cast<double>((key >> 33) + 1)));
  }
  return static_cast<int>(b);
}

int ShardOf(absl::string_view name, int count) { return count <= 1 ? 0 : JumpConsistentHash(ShardHash(name), count); }

std::string Shard::ToString() const { return absl::StrCat(index, "/", count); }

absl::StatusOr<Shard> ParseShard(absl::string_view text) {
  const std::vector<absl::string_view> parts = absl::StrSplit(text, '/');
  Shard shard;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &shard.index) || !absl::SimpleAtoi(parts[1], &shard.count) ||
      shard.count < 1 || shard.index < 0 || shard.index >= shard.count) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard: '", text, "' must be K/N with 0 ≤ K < N (this replica's index, the replica count)"));
  }
  return shard;
}

}  // namespace hybrid::base
