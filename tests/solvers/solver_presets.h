// SolverOptions used across the solver tests.
#pragma once

#include <string>

#include "solvers/integrate/ode_solver.h"

namespace hybrid::testing {

// Adaptive `method` with rtol and atol, no step cap.
inline solvers::SolverOptions AdaptiveSolver(const std::string& method, double rtol, double atol) {
  solvers::SolverOptions o;
  o.method = method;
  o.adaptive = true;
  o.step = 0.0;
  o.rtol = rtol;
  o.atol = atol;
  return o;
}

// Dormand–Prince tight enough to serve as "the exact solution" in tests.
inline solvers::SolverOptions TightDopri5() { return AdaptiveSolver("dopri5", 1e-11, 1e-12); }

}  // namespace hybrid::testing
