// The one place where exceptions thrown by LibTorch become absl::Status.
//
//   absl::StatusOr<Out> out = RunCatchingTorch("predict", [&] { return Compute(); });
//
// Work that returns StatusOr keeps its own status; any exception (c10::Error and
// anything else derived from std::exception) becomes INTERNAL with `context`.
#pragma once

#include <exception>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hybrid::solvers {

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
