// The floor for a Lorenz-63 hybrid training iteration: the whole step written
// out by hand in plain C++ (no LibTorch) — RK4 forward over every window, the
// analytic backward (discrete adjoint of RK4, the MLP's and the physics'
// transposed Jacobians), Adam — compiled with -O3 -march=native -ffast-math
// (the compiler's best: vectorised tanh from libmvec). training_benchmark.cc
// holds hybridserve's fused path to it.
//
// The problem (the same in every implementation the benchmark compares):
// dx/dt = f(x; σ = 10, ρ, β = 8/3) + MLP(x), MLP 3-32-32-3 tanh, ρ trained as
// log ρ, float32; `windows` start states [W, 3] and their observed paths
// [W, steps, 3] (after every RK4 step of size h); loss = mean squared error
// over the whole path; Adam (PyTorch's update) with rate_theta for log ρ and
// rate_phi for the layers. Not thread-safe.
#pragma once

#include <vector>

namespace hybrid::bench {

// Row-major weights [fan_in, fan_out], as hybridserve's MemberMlp keeps one member's.
struct HandwrittenParameters {
  std::vector<float> w1, b1, w2, b2, w3, b3;  // 3×32, 32, 32×32, 32, 32×3, 3.
  float log_rho = 0.0f;
};

class HandwrittenLorenz63Training {
 public:
  HandwrittenLorenz63Training(HandwrittenParameters start, int windows, int steps, float h, float rate_theta,
                              float rate_phi);
  // One iteration; returns the loss before the update.
  float Step(const float* starts, const float* observed);
  const HandwrittenParameters& parameters() const { return p_; }

 private:
  HandwrittenParameters p_, grad_, m_, v_;
  int windows_, steps_;
  float h_, rate_theta_, rate_phi_;
  int t_ = 0;
  std::vector<float> cache_;   // Per window, step and stage: input u, a1, a2.
  std::vector<float> states_;  // Per window: the states after every step.
};

}  // namespace hybrid::bench
