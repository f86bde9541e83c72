// Lorenz-63's right-hand side and its vector-Jacobian products over raw
// arrays: the one home of the equations for every fast path (the catalog
// model's kernel in lorenz63.cc and the fused ensemble kernels through
// PointwisePhysics). No LibTorch.
//
//   dx/dt = σ (y − x),   dy/dt = x (ρ − z) − y,   dz/dt = x y − β z
//
// States are row-major [b, 3]; theta = {σ, ρ, β} (physical values). Vjp adds
// gᵀ ∂f/∂x to grad_x and gᵀ ∂f/∂θ, summed over the b states, to grad_theta. Callable
// from CUDA device code too (the GPU ensemble kernel, solvers/fused/cuda/).
#pragma once

#include <cstdint>

#ifdef __CUDACC__
#define HYBRID_HOST_DEVICE __host__ __device__
#else
#define HYBRID_HOST_DEVICE
#endif

namespace hybrid::solvers {

template <typename T>
struct Lorenz63Equations {
  HYBRID_HOST_DEVICE static void Evaluate(const T* s, int64_t b, const T* theta, T* d) {
    const T sigma = theta[0], rho = theta[1], beta = theta[2];
    for (int64_t i = 0; i < 3 * b; i += 3) {
      const T x = s[i], y = s[i + 1], z = s[i + 2];
      d[i] = sigma * (y - x);
      d[i + 1] = x * (rho - z) - y;
      d[i + 2] = x * y - beta * z;
    }
  }

  HYBRID_HOST_DEVICE static void Vjp(const T* s, int64_t b, const T* theta, const T* g, T* grad_x, T* grad_theta) {
    const T sigma = theta[0], rho = theta[1], beta = theta[2];
    T d_sigma = 0, d_rho = 0, d_beta = 0;
    for (int64_t i = 0; i < 3 * b; i += 3) {
      const T x = s[i], y = s[i + 1], z = s[i + 2];
      const T gx = g[i], gy = g[i + 1], gz = g[i + 2];
      grad_x[i] += -sigma * gx + (rho - z) * gy + y * gz;
      grad_x[i + 1] += sigma * gx - gy + x * gz;
      grad_x[i + 2] += -x * gy - beta * gz;
      d_sigma += (y - x) * gx;
      d_rho += x * gy;
      d_beta -= z * gz;
    }
    grad_theta[0] += d_sigma;
    grad_theta[1] += d_rho;
    grad_theta[2] += d_beta;
  }
};

}  // namespace hybrid::solvers
