#include "solvers/black_box/black_box_step.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace hybrid::solvers {

absl::Status ValidateParameters(const std::vector<BlackBoxParameter>& parameters, const std::string& field) {
  for (size_t i = 0; i < parameters.size(); ++i) {
    const BlackBoxParameter& p = parameters[i];
    const std::string at = absl::StrCat(field, "[", i, "] ('", p.name, "')");
    if (p.name.empty()) return absl::InvalidArgumentError(absl::StrCat(at, ": name must not be empty"));
    for (size_t j = 0; j < i; ++j) {
      if (parameters[j].name == p.name) return absl::InvalidArgumentError(absl::StrCat(at, ": duplicate name"));
    }
    if (!std::isfinite(p.lower) || !std::isfinite(p.upper) || !(p.lower < p.upper)) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ": needs finite bounds lower < upper, got [", p.lower, ", ", p.upper, "]"));
    }
    if (p.positive && !(p.lower > 0.0)) {
      return absl::InvalidArgumentError(absl::StrCat(at, ": a positive parameter needs lower > 0"));
    }
    if (!(p.default_value >= p.lower && p.default_value <= p.upper)) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ": default ", p.default_value, " is outside [", p.lower, ", ", p.upper, "]"));
    }
  }
  return absl::OkStatus();
}

absl::Status BlackBoxStep::TangentLinear(const double*, const double*, double, int64_t, const double*, double*) const {
  return absl::UnimplementedError(absl::StrCat("black-box physics '", name(), "' supplies no tangent-linear model"));
}

}  // namespace hybrid::solvers
