#include "solvers/integrate/butcher_tableau.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hybrid::solvers {

const ButcherTableau& ExplicitEuler() {
  static const ButcherTableau t{"euler", 1, 0, {0.0}, {{}}, {1.0}, {}, false, false};
  return t;
}

const ButcherTableau& Heun() {
  // Embedded Euler: b̂ = (1, 0), so b − b̂ = (−1/2, 1/2).
  static const ButcherTableau t{"heun", 2, 1, {0.0, 1.0}, {{}, {1.0}}, {0.5, 0.5}, {-0.5, 0.5}, false, false};
  return t;
}

const ButcherTableau& ClassicRk4() {
  static const ButcherTableau t{"rk4",
                                4,
                                0,
                                {0.0, 0.5, 0.5, 1.0},
                                {{}, {0.5}, {0.0, 0.5}, {0.0, 0.0, 1.0}},
                                {1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6},
                                {},
                                false,
                                false};
  return t;
}

const ButcherTableau& DormandPrince54() {
  // Dormand & Prince (1980); coefficients as in Hairer's dopri5.f.
  static const ButcherTableau t{
      "dopri5",
      5,
      4,
      {0.0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1.0, 1.0},
      {{},
       {1.0 / 5},
       {3.0 / 40, 9.0 / 40},
       {44.0 / 45, -56.0 / 15, 32.0 / 9},
       {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
       {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
       {35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}},
      {35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84, 0.0},
      {71.0 / 57600, 0.0, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525, -1.0 / 40},
      true,
      true};
  return t;
}

absl::StatusOr<const ButcherTableau*> TableauByName(absl::string_view method) {
  for (const ButcherTableau* t : {&ExplicitEuler(), &Heun(), &ClassicRk4(), &DormandPrince54()}) {
    if (t->name == method) return t;
  }
  return absl::InvalidArgumentError(absl::StrCat("method must be one of euler, heun, rk4, dopri5; got '", method, "'"));
}

}  // namespace hybrid::solvers
