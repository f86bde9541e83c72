// Lead-time buckets of the online skill: how long before a reading its
// forecast was made (the time since the entity's previous report), by decades
// of the model's time unit — bounded label values for Prometheus (6 per
// model), wide enough for Lorenz-96 cycles of 0.05 and PK/PD gaps of hours.
//
//   size_t b = LeadBucket(0.05);          // 1: (0.01, 0.1]
//   std::string le = LeadBucketLabel(b);  // "0.1"; the last is "+Inf"
//
// Pure; thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <string>

namespace hybrid::server {

inline constexpr std::array<double, 5> kLeadBucketEdges = {0.01, 0.1, 1.0, 10.0, 100.0};
inline constexpr size_t kLeadBuckets = kLeadBucketEdges.size() + 1;

inline size_t LeadBucket(double lead) {
  size_t b = 0;
  while (b < kLeadBucketEdges.size() && lead > kLeadBucketEdges[b]) ++b;
  return b;
}

inline std::string LeadBucketLabel(size_t bucket) {
  static const std::array<const char*, kLeadBuckets> labels = {"0.01", "0.1", "1", "10", "100", "+Inf"};
  return labels[bucket];
}

}  // namespace hybrid::server
