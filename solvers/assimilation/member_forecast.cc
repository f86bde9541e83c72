#include "solvers/assimilation/member_forecast.h"

#include <ATen/ATen.h>

#include "solvers/integrate/butcher_tableau.h"
#include "solvers/integrate/ode_solver.h"
#include "solvers/integrate/rate_forced_field.h"

namespace hybrid::solvers {

at::Tensor AdvanceMembers(const HybridModel& model, const at::Tensor& states, double from, double to, double max_step,
                          const at::Tensor& rate, bool with_gradient) {
  TORCH_CHECK(to >= from, "AdvanceMembers: to (", to, ") < from (", from, ")");
  TORCH_CHECK(max_step > 0.0, "AdvanceMembers: max_step must be > 0");
  TORCH_CHECK(states.dim() == 3 && states.size(0) == model.members() && states.size(2) == model.state_dim(),
              "AdvanceMembers: states must be [M, B, D]");
  if (to == from) return states;
  at::AutoGradMode grad_mode(with_gradient);
  const std::optional<int64_t> steps = FixedStepsBetween(from, to, max_step);
  TORCH_CHECK(steps.has_value(), "AdvanceMembers: too many steps");
  const double h = (to - from) / static_cast<double>(*steps);
  if (!rate.defined() || !(rate != 0).any().item<bool>())
    return IntegrateFixed(ClassicRk4(), model, states, from, h, *steps);
  return IntegrateFixed(ClassicRk4(), RateForcedField(model, rate.to(states.scalar_type())), states, from, h, *steps);
}

}  // namespace hybrid::solvers
