#include "solvers/physics/grid_laplacian.h"

#include <ATen/ATen.h>

namespace hybrid::solvers {
namespace {

// u with its first and last slice along `dim` repeated outside: ghost = edge.
at::Tensor EdgePadded(const at::Tensor& u, int64_t dim) {
  const int64_t n = u.size(dim);
  return at::cat({u.narrow(dim, 0, 1), u, u.narrow(dim, n - 1, 1)}, dim);
}

at::Tensor ZeroFluxSecondDifference(const at::Tensor& u, int64_t dim) {
  const at::Tensor p = EdgePadded(u, dim);
  const int64_t n = u.size(dim);
  return p.narrow(dim, 0, n) + p.narrow(dim, 2, n) - 2.0 * u;
}

}  // namespace

at::Tensor PeriodicLaplacian2d(const at::Tensor& u, double dx) {
  const at::Tensor sum = at::roll(u, 1, -1) + at::roll(u, -1, -1) + at::roll(u, 1, -2) + at::roll(u, -1, -2);
  return (sum - 4.0 * u) / (dx * dx);
}

at::Tensor ZeroFluxLaplacian1d(const at::Tensor& u, double dx) {
  return ZeroFluxSecondDifference(u, u.dim() - 1) / (dx * dx);
}

at::Tensor ZeroFluxLaplacian2d(const at::Tensor& u, double dx) {
  return (ZeroFluxSecondDifference(u, u.dim() - 1) + ZeroFluxSecondDifference(u, u.dim() - 2)) / (dx * dx);
}

}  // namespace hybrid::solvers
