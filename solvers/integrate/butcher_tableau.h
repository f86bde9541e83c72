// Explicit Runge–Kutta methods as Butcher tableaus (Hairer, Nørsett & Wanner,
// "Solving ODEs I", II.1 and II.5).
//
//   const ButcherTableau& dp = DormandPrince54();
//   absl::StatusOr<const ButcherTableau*> m = TableauByName("rk4");
//
// c: nodes; a: strictly lower-triangular stage weights (a[i] has i entries);
// b: weights of the propagated solution; b_error: b − b̂ of an embedded
// lower-order solution (empty when the method has none, so it cannot adapt its
// step); fsal: the last stage is f(t + h, x_{n+1}), reusable as the next k1.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hybrid::solvers {

struct ButcherTableau {
  std::string name;
  int order = 0;        // Of the propagated solution.
  int error_order = 0;  // Of the embedded solution; 0 without one.
  std::vector<double> c;
  std::vector<std::vector<double>> a;
  std::vector<double> b;
  std::vector<double> b_error;
  bool fsal = false;
  bool has_dense_output = false;  // Hairer's continuous extension (Dormand–Prince only).

  int stages() const { return static_cast<int>(c.size()); }
  bool adaptive() const { return !b_error.empty(); }
};

const ButcherTableau& ExplicitEuler();    // order 1
const ButcherTableau& Heun();             // order 2, embedded Euler (order 1)
const ButcherTableau& ClassicRk4();       // order 4
const ButcherTableau& DormandPrince54();  // order 5, embedded order 4, FSAL, dense output

// "euler", "heun", "rk4", "dopri5"; INVALID_ARGUMENT naming `method` otherwise.
absl::StatusOr<const ButcherTableau*> TableauByName(absl::string_view method);

}  // namespace hybrid::solvers
