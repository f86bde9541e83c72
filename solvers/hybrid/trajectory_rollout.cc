#include "solvers/hybrid/trajectory_rollout.h"

#include <ATen/ATen.h>

#include "solvers/black_box/black_box_physics.h"
#include "solvers/integrate/butcher_tableau.h"
#include "solvers/integrate/ode_solver.h"

namespace hybrid::solvers {

at::Tensor RolloutTrajectory(const HybridModel& model, const at::Tensor& x0, double dt, int64_t outputs,
                             int64_t substeps) {
  const at::Tensor x = x0.dim() == 2 ? x0.unsqueeze(0).expand({model.members(), x0.size(0), x0.size(1)}) : x0;
  return IntegrateFixedPath(ClassicRk4(), model, x, 0.0, dt / static_cast<double>(substeps), outputs * substeps,
                            substeps);
}

at::Tensor ForecastPath(const HybridModel& model, const at::Tensor& start, double step, int64_t steps) {
  at::NoGradGuard no_grad;
  const at::Tensor x = start.unsqueeze(0).expand({model.members(), start.size(0), start.size(1)});
  return IntegrateFixedPath(ClassicRk4(), model, x, 0.0, step, steps, 1);
}

at::Tensor PhysicsStep(const HybridModel& model, const at::Tensor& x, double h) {
  if (model.black_box() != nullptr) return model.black_box()->Advance(x, h, 1);
  return IntegrateFixed(ClassicRk4(), model.physics(), x, 0.0, h, 1);
}

}  // namespace hybrid::solvers
