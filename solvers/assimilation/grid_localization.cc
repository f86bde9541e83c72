#include "solvers/assimilation/grid_localization.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace hybrid::solvers {
namespace {

// DAPPER's factor from loc_rad to the half-width: ρ(radius) ≈ exp(−½).
constexpr double kHalfWidthPerRadius = 1.82;

}  // namespace

double GaspariCohn(double distance, double half_width) {
  const double r = distance / half_width;
  if (r >= 2.0) return 0.0;
  const double r2 = r * r, r3 = r2 * r, r4 = r3 * r, r5 = r4 * r;
  if (r <= 1.0) return -r5 / 4.0 + r4 / 2.0 + 5.0 * r3 / 8.0 - 5.0 * r2 / 3.0 + 1.0;
  return r5 / 12.0 - r4 / 2.0 + 5.0 * r3 / 8.0 + 5.0 * r2 / 3.0 - 5.0 * r + 4.0 - 2.0 / (3.0 * r);
}

absl::StatusOr<GridLocalization> GridLocalization::Create(StateGrid grid, const std::vector<StateComponent>& components,
                                                          double radius) {
  if (!(radius > 0.0) || !std::isfinite(radius)) {
    return absl::InvalidArgumentError(absl::StrCat("the localisation radius must be finite and > 0, got ", radius));
  }
  if (grid.extent.empty()) {
    return absl::InvalidArgumentError("the state is not a field on a grid, so there is no distance to localise by");
  }
  std::vector<std::vector<int64_t>> cells;
  for (const StateComponent& c : components) {
    if (!c.cell.empty()) {
      if (c.cell.size() != grid.extent.size()) {
        return absl::InvalidArgumentError(absl::StrCat("component ", c.name, " has ", c.cell.size(),
                                                       " coordinates on a grid of ", grid.extent.size(), " axes"));
      }
      for (size_t axis = 0; axis < c.cell.size(); ++axis) {
        if (c.cell[axis] < 0 || c.cell[axis] >= grid.extent[axis]) {
          return absl::InvalidArgumentError(absl::StrCat("component ", c.name, " lies off the grid"));
        }
      }
    }
    cells.push_back(c.cell);
  }
  return GridLocalization(std::move(grid), std::move(cells), radius);
}

double GridLocalization::Distance(const std::vector<int64_t>& a, const std::vector<int64_t>& b) const {
  double squared = 0.0;
  for (size_t axis = 0; axis < a.size(); ++axis) {
    double gap = std::abs(static_cast<double>(a[axis] - b[axis]));
    if (grid_.periodic) gap = std::min(gap, static_cast<double>(grid_.extent[axis]) - gap);
    squared += gap * gap;
  }
  return std::sqrt(squared);
}

at::Tensor GridLocalization::Weights(const std::vector<std::vector<int64_t>>& reads) const {
  const int64_t d = static_cast<int64_t>(cells_.size()), p = static_cast<int64_t>(reads.size());
  at::Tensor weights = at::ones({d, p}, at::kDouble);
  auto rho = weights.accessor<double, 2>();
  const double half_width = kHalfWidthPerRadius * radius_;
  for (int64_t j = 0; j < p; ++j) {
    std::vector<const std::vector<int64_t>*> located;
    for (const int64_t component : reads[j]) {
      if (!cells_.at(component).empty()) located.push_back(&cells_[component]);
    }
    if (located.empty()) continue;  // Not on the grid: seen everywhere.
    for (int64_t i = 0; i < d; ++i) {
      if (cells_[i].empty()) continue;
      double nearest = std::numeric_limits<double>::infinity();
      for (const std::vector<int64_t>* cell : located) nearest = std::min(nearest, Distance(cells_[i], *cell));
      rho[i][j] = GaspariCohn(nearest, half_width);
    }
  }
  return weights;
}

}  // namespace hybrid::solvers
