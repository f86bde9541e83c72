#include "solvers/hybrid/window_loss.h"

#include <ATen/ATen.h>

namespace hybrid::solvers {

at::Tensor WindowMse(const at::Tensor& prediction, const at::Tensor& end, const at::Tensor& mask) {
  const at::Tensor squared = (prediction - end.unsqueeze(0)).pow(2);
  if (!mask.defined()) return squared.mean();
  return (squared * mask).sum() / (mask.sum() * static_cast<double>(prediction.size(0)));
}

at::Tensor BatchMse(const at::Tensor& forecast_path, const WindowBatch& batch) {
  if (!batch.path.defined()) return WindowMse(forecast_path.select(2, -1), batch.end, batch.mask);
  // Steps fold into windows: [M, W·n, D] against [W·n, D], the mask repeated per step.
  const int64_t m = forecast_path.size(0), d = forecast_path.size(3);
  const int64_t n = forecast_path.size(2);
  const at::Tensor mask =
      batch.mask.defined() ? batch.mask.unsqueeze(1).expand({-1, n, -1}).reshape({-1, d}) : at::Tensor();
  return WindowMse(forecast_path.reshape({m, -1, d}), batch.path.reshape({-1, d}), mask);
}

}  // namespace hybrid::solvers
