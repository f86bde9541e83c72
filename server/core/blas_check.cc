#include "server/core/blas_check.h"

#include <dlfcn.h>

namespace hybrid::server {

absl::Status CheckBlasIsThreadSafe() {
  using GetParallel = int (*)();
  // openblas_get_parallel(): 0 for the sequential build, 1 pthreads, 2 OpenMP.
  const auto get_parallel = reinterpret_cast<GetParallel>(dlsym(RTLD_DEFAULT, "openblas_get_parallel"));
  if (get_parallel == nullptr || get_parallel() != 0) return absl::OkStatus();
  return absl::FailedPreconditionError(
      "libblas.so.3 is OpenBLAS's serial build, which is not thread-safe: concurrent requests would get each "
      "other's matrix products. Install libblis4-serial (scripts/setup does) and remove libopenblas0-serial, or "
      "select another libblas.so.3 with update-alternatives");
}

}  // namespace hybrid::server
