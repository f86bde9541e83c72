#include "solvers/calibration/divergence_guard.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"

namespace hybrid::solvers {

absl::Status DivergenceGuard::Check(double loss, const char* when) const {
  if (!std::isfinite(loss)) {
    return absl::FailedPreconditionError(
        absl::StrCat("divergence guard: the loss ", when, " is not finite (", loss, "); update rolled back"));
  }
  if (options_.loss_ratio > 0.0 && static_cast<int64_t>(recent_.size()) >= options_.warmup) {
    const double limit = options_.loss_ratio * Median();
    if (loss > limit && loss > options_.loss_floor) {
      return absl::FailedPreconditionError(absl::StrCat("divergence guard: the loss ", when, " (", loss, ") is above ",
                                                        options_.loss_ratio, "x the running median (", Median(),
                                                        "); update rolled back"));
    }
  }
  return absl::OkStatus();
}

void DivergenceGuard::Record(double loss) {
  recent_.push_back(loss);
  while (static_cast<int64_t>(recent_.size()) > std::max<int64_t>(options_.window, 1)) recent_.pop_front();
}

double DivergenceGuard::Median() const {
  if (recent_.empty()) return 0.0;
  std::vector<double> sorted(recent_.begin(), recent_.end());
  const size_t mid = sorted.size() / 2;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(mid), sorted.end());
  return sorted[mid];
}

}  // namespace hybrid::solvers
