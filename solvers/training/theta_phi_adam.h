// Adam over a hybrid model's two parameter groups — θ, the physics' trainable
// raw parameters, and φ, the networks, α and head — each with its own learning
// rate, and the step decay of both rates. Offline training and online
// calibration optimise the same way through this one place.
//
//   std::unique_ptr<torch::optim::Adam> adam = MakeThetaPhiAdam(model, 1e-2, 1e-3);
//   ... adam->step(); DecayLearningRates(*adam, step, /*every=*/100, /*factor=*/0.5);
//
// Not thread-safe (an optimizer has one owner).
#pragma once

#include <torch/optim/adam.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "solvers/hybrid/hybrid_model.h"

namespace hybrid::solvers {

// nullopt leaves that group out (frozen, or estimated another way); an empty
// group is left out too. Null when no group is left.
std::unique_ptr<torch::optim::Adam> MakeThetaPhiAdam(const HybridModel& model, std::optional<double> theta_rate,
                                                     std::optional<double> phi_rate);

// Every tensor the optimizer updates, group by group.
std::vector<at::Tensor> OptimizedTensors(const torch::optim::Adam& optimizer);

// Multiplies every group's learning rate by `factor` when `step` is a positive
// multiple of `every`; `every` 0: never.
void DecayLearningRates(torch::optim::Adam& optimizer, int64_t step, int64_t every, double factor);

}  // namespace hybrid::solvers
