#include "server/core/memory_release.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace hybrid::server {

void UseFixedAllocatorThresholds() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 1 << 20);  // Setting it fixes it: no more dynamic raise.
  mallopt(M_TRIM_THRESHOLD, 8 << 20);
#endif
}

void ReturnFreeMemory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace hybrid::server
