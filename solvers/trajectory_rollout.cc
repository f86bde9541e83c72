#include "solvers/trajectory_rollout.h"

#include <ATen/ATen.h>

#include <vector>

#include "solvers/butcher_tableau.h"
#include "solvers/ode_solver.h"

namespace hybrid::solvers {

at::Tensor RolloutTrajectory(const HybridModel& model, const at::Tensor& x0, double dt, int64_t outputs,
                             int64_t substeps) {
  at::Tensor x = x0.dim() == 2 ? x0.unsqueeze(0).expand({model.members(), x0.size(0), x0.size(1)}) : x0;
  const double h = dt / static_cast<double>(substeps);
  std::vector<at::Tensor> states;
  states.reserve(outputs);
  for (int64_t k = 0; k < outputs; ++k) {
    x = IntegrateFixed(ClassicRk4(), model, x, static_cast<double>(k) * dt, h, substeps);
    states.push_back(x);
  }
  return at::stack(states, /*dim=*/2);
}

}  // namespace hybrid::solvers
