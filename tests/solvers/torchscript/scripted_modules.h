// TorchScript modules for tests, compiled from TorchScript source with
// LibTorch and saved as torch.jit.save saves them (no Python needed).
#pragma once

#include <torch/script.h>

#include <string>
#include <utility>
#include <vector>

namespace hybrid::testing {

// Lorenz-63 under the TorchScript physics contract: theta = (sigma, rho, beta).
inline constexpr char kScriptedLorenz63[] = R"(
def forward(self, t: Tensor, x: Tensor, theta: Tensor) -> Tensor:
    sigma = theta[:, 0].unsqueeze(1)
    rho = theta[:, 1].unsqueeze(1)
    beta = theta[:, 2].unsqueeze(1)
    X = x[:, :, 0]
    Y = x[:, :, 1]
    Z = x[:, :, 2]
    return torch.stack([sigma * (Y - X), X * (rho - Z) - Y, X * Y - beta * Z], 2)
)";

// A module whose methods are `source`, saved at `path`.
inline void SaveScriptedModule(const std::string& path, const std::string& source) {
  torch::jit::Module module("__torch__.Physics");
  module.define(source);
  module.save(path);
}

// A network with `parameters` (name, value; trainable, as torch.nn.Parameter
// saves them) whose methods are `source`, saved at `path`; `submodules`
// (name, module) become its attributes.
inline void SaveScriptedNetwork(const std::string& path, const std::string& source,
                                const std::vector<std::pair<std::string, at::Tensor>>& parameters,
                                const std::vector<std::pair<std::string, torch::jit::Module>>& submodules = {}) {
  torch::jit::Module module("__torch__.Network");
  for (const auto& [name, value] : parameters) {
    module.register_parameter(name, value.detach().requires_grad_(true), /*is_buffer=*/false);
  }
  for (const auto& [name, sub] : submodules) module.register_module(name, sub);
  module.define(source);
  module.save(path);
}

}  // namespace hybrid::testing
