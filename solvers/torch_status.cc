#include "solvers/torch_status.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace hybrid::solvers {

absl::Status StatusFromException(absl::string_view context, const std::exception& e) {
  // c10::Error::what() appends a C++ backtrace; keep the first line only so that
  // no stack trace reaches a client.
  std::string message = e.what();
  if (size_t newline = message.find('\n'); newline != std::string::npos) message.resize(newline);
  if (dynamic_cast<const SolverFailure*>(&e) != nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(context, ": ", message));
  }
  return absl::InternalError(absl::StrCat(context, ": ", message));
}

}  // namespace hybrid::solvers
