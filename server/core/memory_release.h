// Giving memory back to the operating system after large requests.
//
// glibc's malloc keeps freed memory in its arenas: a block freed above the
// mmap threshold raises that threshold to the block's size (so later blocks
// of that size stay in the arenas), and fragmented arenas are never trimmed.
// One large legal Predict (a 15 MB answer, its tensors and protobuf copies)
// left ~35 MB resident for good; a few concurrent ones, their peak. Two
// measures (glibc only; elsewhere both do nothing):
//   UseFixedAllocatorThresholds  at start: blocks ≥ 1 MiB always come from and
//                                go back to the OS (the threshold stops adapting);
//   ReturnFreeMemory             after a large answer: malloc_trim(0) hands the
//                                arenas' free pages back (a few ms; only after
//                                answers of kLargeAnswerBytes or more).
// Both are process-wide and thread-safe.
#pragma once

#include <cstdint>

namespace hybrid::server {

inline constexpr int64_t kLargeAnswerBytes = int64_t{1} << 20;

void UseFixedAllocatorThresholds();
void ReturnFreeMemory();

}  // namespace hybrid::server
