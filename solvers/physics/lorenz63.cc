#include "solvers/physics/lorenz63.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "solvers/physics/lorenz63_equations.h"
#include "solvers/physics/physics_catalog.h"

namespace hybrid::solvers {

const std::vector<ParameterSpec>& Lorenz63::Specs() {
  static const std::vector<ParameterSpec> specs = {
      {"sigma", "1", 10.0, 1e-3, 1e3, "Prandtl number"},
      {"rho", "1", 28.0, 1e-3, 1e3, "Rayleigh number (scaled)"},
      {"beta", "1", 8.0 / 3.0, 1e-3, 1e3, "aspect-ratio factor"},
  };
  return specs;
}

absl::StatusOr<std::shared_ptr<Lorenz63>> Lorenz63::Create(const PhysicsOptions& options) {
  OptionsReader read(Specs(), options, {"beta_term"});
  const bool beta_term = read.Int("beta_term", 1, 0, 1) == 1;
  if (!read.status().ok()) return read.status();
  return std::shared_ptr<Lorenz63>(new Lorenz63(options, beta_term));
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The right-hand side in one pass over memory instead of ~15 ATen operations
// (each with its own dispatch, allocation and strided pass), with the
// Jacobian-transpose products written out for the backward pass
// (lorenz63_equations.h). For contiguous CPU states; first derivatives only
// (no double backward). `log_values`: the parameters come as logarithms (the
// stored form) and are exponentiated here, saving three tensor operations per
// evaluation.
at::Tensor FusedForward(const at::Tensor& state, const at::Tensor& sigma, const at::Tensor& rho, const at::Tensor& beta,
                        bool log_values = false) {
  at::Tensor out = at::empty_like(state);
  const int64_t members = state.size(0), batch = state.size(1);
  AT_DISPATCH_FLOATING_TYPES(state.scalar_type(), "lorenz63_forward", [&] {
    const scalar_t *sgp = sigma.data_ptr<scalar_t>(), *rp = rho.data_ptr<scalar_t>(), *bp = beta.data_ptr<scalar_t>();
    for (int64_t m = 0; m < members; ++m) {
      const scalar_t theta[3] = {log_values ? std::exp(sgp[m]) : sgp[m], log_values ? std::exp(rp[m]) : rp[m],
                                 log_values ? std::exp(bp[m]) : bp[m]};
      Lorenz63Equations<scalar_t>::Evaluate(state.data_ptr<scalar_t>() + m * batch * 3, batch, theta,
                                            out.data_ptr<scalar_t>() + m * batch * 3);
    }
  });
  return out;
}

struct FusedLorenz63 : torch::autograd::Function<FusedLorenz63> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& state, const at::Tensor& sigma,
                            const at::Tensor& rho, const at::Tensor& beta) {
    ctx->save_for_backward({state, sigma, rho, beta});
    return FusedForward(state, sigma, rho, beta);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    TORCH_CHECK(!at::GradMode::is_enabled(), "Lorenz63's fused kernel has no second derivatives (create_graph)");
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& state = saved[0];
    const at::Tensor g = grad_outputs[0].contiguous();
    const int64_t members = state.size(0), batch = state.size(1);
    at::Tensor g_state = at::zeros_like(state);
    at::Tensor g_theta = at::zeros({members, 3}, state.options());
    AT_DISPATCH_FLOATING_TYPES(state.scalar_type(), "lorenz63_backward", [&] {
      const scalar_t *sgp = saved[1].data_ptr<scalar_t>(), *rp = saved[2].data_ptr<scalar_t>(),
                     *bp = saved[3].data_ptr<scalar_t>();
      for (int64_t m = 0; m < members; ++m) {
        const scalar_t theta[3] = {sgp[m], rp[m], bp[m]};
        const int64_t offset = m * batch * 3;
        Lorenz63Equations<scalar_t>::Vjp(state.data_ptr<scalar_t>() + offset, batch, theta,
                                         g.data_ptr<scalar_t>() + offset, g_state.data_ptr<scalar_t>() + offset,
                                         g_theta.data_ptr<scalar_t>() + m * 3);
      }
    });
    return {g_state, g_theta.select(1, 0), g_theta.select(1, 1), g_theta.select(1, 2)};
  }
};

// β = 0 (structure beta_term 0): the same equations with β fixed at 0 and its gradient dropped.
template <typename T>
struct Lorenz63WithoutBeta {
  static void Evaluate(const T* s, int64_t b, const T* theta, T* d) {
    const T kept[3] = {theta[0], theta[1], T(0)};
    Lorenz63Equations<T>::Evaluate(s, b, kept, d);
  }
  static void Vjp(const T* s, int64_t b, const T* theta, const T* g, T* grad_x, T* grad_theta) {
    const T kept[3] = {theta[0], theta[1], T(0)};
    T dropped[3] = {0, 0, 0};
    Lorenz63Equations<T>::Vjp(s, b, kept, g, grad_x, dropped);
    grad_theta[0] += dropped[0];
    grad_theta[1] += dropped[1];
  }
};

}  // namespace

at::Tensor Lorenz63::Evaluate(double /*t*/, const at::Tensor& state) const {
  CheckState(state);
  if (state.device().is_cpu() && state.is_contiguous() && state.scalar_type() == Raw(0).scalar_type()) {
    const bool recording = at::GradMode::is_enabled() && (state.requires_grad() || Raw(0).requires_grad() ||
                                                          Raw(1).requires_grad() || Raw(2).requires_grad());
    // Building an autograd node costs more than the arithmetic: skip it when nothing is recorded.
    if (!beta_term_) {  // β = 0 in the same kernel; its gradient is dropped with the constant.
      return FusedLorenz63::apply(state, Value(0), Value(1), at::zeros_like(Raw(2)));
    }
    if (!recording) return FusedForward(state, Raw(0), Raw(1), Raw(2), /*log_values=*/true);
    return FusedLorenz63::apply(state, Value(0), Value(1), Value(2));
  }
  // Any other device or layout: the same equations as ATen operations.
  const at::Tensor x = state.select(2, 0);
  const at::Tensor y = state.select(2, 1);
  const at::Tensor z = state.select(2, 2);
  const at::Tensor sigma = MemberValue(0, 2);
  const at::Tensor rho = MemberValue(1, 2);
  const at::Tensor beta = beta_term_ ? MemberValue(2, 2) : at::zeros_like(MemberValue(2, 2));
  return at::stack({sigma * (y - x), x * (rho - z) - y, x * y - beta * z}, 2);
}

const PointwisePhysics* Lorenz63::pointwise() const {
  static const PointwisePhysicsOf<Lorenz63Equations> with_beta(3, 3);
  static const PointwisePhysicsOf<Lorenz63WithoutBeta> without_beta(3, 3);
  return beta_term_ ? static_cast<const PointwisePhysics*>(&with_beta) : &without_beta;
}

HYBRID_REGISTER_PHYSICS(lorenz63,
                        "Lorenz-63 convection (sigma, rho, beta); structure beta_term",
                        CatalogFactory<Lorenz63>)

}  // namespace hybrid::solvers
