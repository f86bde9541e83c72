#include "solvers/training/theta_phi_adam.h"

#include <utility>

namespace hybrid::solvers {

std::unique_ptr<torch::optim::Adam> MakeThetaPhiAdam(const HybridModel& model, std::optional<double> theta_rate,
                                                     std::optional<double> phi_rate) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto add_group = [&](std::vector<at::Tensor> params, std::optional<double> rate) {
    if (!rate || params.empty()) return;
    groups.emplace_back(std::move(params), std::make_unique<torch::optim::AdamOptions>(*rate));
  };
  add_group(model.ThetaParameters(), theta_rate);
  add_group(model.PhiParameters(), phi_rate);
  if (groups.empty()) return nullptr;
  return std::make_unique<torch::optim::Adam>(std::move(groups), torch::optim::AdamOptions());
}

std::vector<at::Tensor> OptimizedTensors(const torch::optim::Adam& optimizer) {
  std::vector<at::Tensor> tensors;
  for (const torch::optim::OptimizerParamGroup& group : optimizer.param_groups()) {
    tensors.insert(tensors.end(), group.params().begin(), group.params().end());
  }
  return tensors;
}

void DecayLearningRates(torch::optim::Adam& optimizer, int64_t step, int64_t every, double factor) {
  if (every <= 0 || step <= 0 || step % every != 0) return;
  for (torch::optim::OptimizerParamGroup& group : optimizer.param_groups()) {
    auto& adam = static_cast<torch::optim::AdamOptions&>(group.options());
    adam.lr(adam.lr() * factor);
  }
}

}  // namespace hybrid::solvers
