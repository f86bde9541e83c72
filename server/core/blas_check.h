// Whether the BLAS LibTorch multiplies with may be called from many threads
// at once, as the server does (Predict pool, one calibration worker per
// model). OpenBLAS's serial build may not: concurrent products get each
// other's results. OK for every other BLAS (looked up at run time: the
// OpenBLAS symbol is absent elsewhere); FAILED_PRECONDITION saying how to
// switch for the serial OpenBLAS. Call once at start.
#pragma once

#include "absl/status/status.h"

namespace hybrid::server {

absl::Status CheckBlasIsThreadSafe();

}  // namespace hybrid::server
