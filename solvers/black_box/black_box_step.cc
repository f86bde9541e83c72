#include "solvers/black_box/black_box_step.h"

#include "absl/strings/str_cat.h"

namespace hybrid::solvers {

absl::Status BlackBoxStep::TangentLinear(const double*, const double*, double, int64_t, const double*, double*) const {
  return absl::UnimplementedError(absl::StrCat("black-box physics '", name(), "' supplies no tangent-linear model"));
}

}  // namespace hybrid::solvers
