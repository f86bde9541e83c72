// Finite-difference Laplacians on uniform grids, over the last one or two
// dimensions of a tensor (any leading batch dimensions).
//
//   at::Tensor lap = PeriodicLaplacian2d(u, dx);   // u [..., N, N]
//
// Periodic: the 5-point (2-D) / 3-point (1-D) stencil with wrap-around.
// Zero flux (Neumann): the same stencil with ghost values equal to the edge
// values, so that the sum over the grid of the Laplacian is exactly zero
// (diffusion conserves mass to rounding). Differentiable; shapes are kept.
#pragma once

#include <ATen/core/Tensor.h>

namespace hybrid::solvers {

at::Tensor PeriodicLaplacian2d(const at::Tensor& u, double dx);
at::Tensor ZeroFluxLaplacian1d(const at::Tensor& u, double dx);
at::Tensor ZeroFluxLaplacian2d(const at::Tensor& u, double dx);

}  // namespace hybrid::solvers
