// The floor of a Predict on the default model: the same forecast written out
// by hand in plain C++ (no LibTorch, no gRPC), compiled -O3 -march=native
// -ffast-math. hybridload times it next to the server's Predict so that the
// Predict p50 is compared with (ListModels p50 + this), all in one run.
//
// The work, as deploy/model_repository/lorenz63 answers `--horizon=1
// --step=0.1` (hybridload's Predict): Lorenz-63 (σ = 10, ρ = 20, β = 8/3) plus
// an MLP 3-16-16-3 tanh per member, 5 members × 8 start draws around x0 (std
// 0.05), fixed RK4 steps of max_step = 0.01 to 10 output times, a model-error
// forcing √(h q) ξ after every step (normal draws from a Mersenne twister),
// then per output time the samples' mean, std and a 90% Gaussian interval.
// float64. The weights are random: values do not change the cost. Not
// thread-safe.
#pragma once

#include <array>
#include <random>
#include <vector>

namespace hybrid::loadtest {

class PlainForecast {
 public:
  PlainForecast();
  // One forecast from x0; returns the sum of its interval bounds (so that
  // the work cannot be optimised away).
  double Run(const std::array<double, 3>& x0);

 private:
  static constexpr int kMembers = 5, kDraws = 8, kHidden = 16, kTimes = 10, kStepsPerTime = 10;
  struct Member {
    std::vector<double> w1, b1, w2, b2, w3, b3;  // Row-major [fan_in, fan_out].
  };
  void Field(const Member& m, const double* u, double* k) const;  // u, k: [kDraws, 3].

  std::array<Member, kMembers> members_;
  std::mt19937_64 engine_{7};
  std::vector<double> samples_;  // [times, members · draws, 3]
};

}  // namespace hybrid::loadtest
