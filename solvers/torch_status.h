// The one place where exceptions thrown by LibTorch become absl::Status.
//
//   absl::StatusOr<Out> out = RunCatchingTorch("predict", [&] { return Compute(); });
//
// Work that returns StatusOr keeps its own status; a SolverFailure becomes
// FAILED_PRECONDITION and any other exception (c10::Error and anything else
// derived from std::exception) INTERNAL, with `context`.
#pragma once

#include <exception>
#include <stdexcept>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hybrid::solvers {

// Thrown from tensor code that cannot return a status (a black-box physics
// step inside an integrator) when the physics solver fails: StatusFromException
// maps it to FAILED_PRECONDITION (the input drove the solver there; not a fault).
class SolverFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// SolverFailure → FAILED_PRECONDITION; anything else → INTERNAL.
absl::Status StatusFromException(absl::string_view context, const std::exception& e);

template <typename F>
auto RunCatchingTorch(absl::string_view context, F&& work) -> decltype(work()) {
  try {
    return work();
  } catch (const std::exception& e) {
    return StatusFromException(context, e);
  }
}

}  // namespace hybrid::solvers
