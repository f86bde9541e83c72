// Localisation of ensemble analyses on a field's grid: the R-localisation of
// the LETKF (Hunt, Kostelich & Szunyogh 2007, section 2.3; Sakov & Bertino
// 2011, "Relation between two common localisation methods for the EnKF").
// Each state component's local analysis sees a reading with its precision
// multiplied by ρ(d), d the distance on the grid, in cells, from the
// component's cell to the nearest cell the reading reads, ρ the fifth-order
// taper of Gaspari & Cohn (1999, eq. 4.10). With few members, far-apart
// components no longer correlate by sampling error, so an ensemble smaller
// than the state's unstable subspace still tracks a chaotic field.
//
//   absl::StatusOr<GridLocalization> local =
//       GridLocalization::Create(physics.Grid(), physics.Components(), /*radius=*/4.0);
//   at::Tensor rho = local->Weights({{3}, {4, 5}});   // [D, 2]: a reading of x3, one of x4 + x5
//   options.localization = rho;                       // EtkfOptions
//
// `radius` is DAPPER's loc_rad, so published settings carry over: ρ(radius) ≈
// exp(−½), the taper's half-width c = 1.82 radius (√(10/3)), ρ = 0 beyond 2c.
// A component without a cell sees every reading in full; so does every
// component a reading of only such components. Create refuses, as
// INVALID_ARGUMENT, a radius that is not finite and > 0, a grid without axes,
// and a cell off the grid. Immutable after Create; thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "solvers/physics/scientific_model.h"

namespace hybrid::solvers {

// Gaspari & Cohn's compactly supported correlation function of a distance ≥ 0
// for half-width c > 0: 1 at 0, 5/24 at c, 0 from 2c on.
double GaspariCohn(double distance, double half_width);

class GridLocalization {
 public:
  static absl::StatusOr<GridLocalization> Create(StateGrid grid, const std::vector<StateComponent>& components,
                                                 double radius);

  // Distance in cells between two cells of the grid (the shorter way round
  // on a periodic one).
  double Distance(const std::vector<int64_t>& a, const std::vector<int64_t>& b) const;
  // ρ [D, P] float64: column p for a reading of the components `reads[p]`
  // (indices in the state) — the taper of each component's distance to the
  // nearest of them.
  at::Tensor Weights(const std::vector<std::vector<int64_t>>& reads) const;

 private:
  GridLocalization(StateGrid grid, std::vector<std::vector<int64_t>> cells, double radius)
      : grid_(std::move(grid)), cells_(std::move(cells)), radius_(radius) {}

  StateGrid grid_;
  std::vector<std::vector<int64_t>> cells_;  // Per component; empty: none.
  double radius_;
};

}  // namespace hybrid::solvers
