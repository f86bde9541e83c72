// Calibrate requests carrying windows of the true Lorenz-63 (σ 10, ρ 28,
// β 8/3), computed with the client's plain C++ RK4, independent of the
// server's (link hybrid_client).
#pragma once

#include <random>
#include <string>
#include <vector>

#include "client/observation_windows.h"
#include "hybrid/v1/hybrid_service.pb.h"

namespace hybrid::testing {

// `steps` RK4 steps of h = 0.01 of the true Lorenz-63 (σ 10, ρ 28, β 8/3),
// with the client's plain C++ simulator (client/observation_windows.h).
inline std::vector<double> Lorenz63Steps(std::vector<double> x, int steps) {
  for (int n = 0; n < steps; ++n) x = client::Lorenz63Rk4Step(x, 0.01, 10.0, 28.0, 8.0 / 3.0);
  return x;
}

// `count` observations of the true system for `model`, sequence k + 1 for the
// k-th: two windows of 10 steps of 0.01 each along one trajectory, the
// observed states with Gaussian sensor noise of std `noise` (seeded).
inline std::vector<v1::CalibrateRequest> Lorenz63Observations(const std::string& model, int count, double noise = 0.0) {
  std::mt19937_64 random(17);
  std::normal_distribution<double> sensor(0.0, 1.0);
  std::vector<v1::CalibrateRequest> out;
  std::vector<double> x = Lorenz63Steps({1.0, 1.0, 20.0}, 500);
  for (int k = 0; k < count; ++k) {
    v1::CalibrateRequest r;
    r.set_model(model);
    r.set_sequence(static_cast<uint64_t>(k + 1));
    r.set_step(0.01);
    r.set_steps(10);
    for (v1::Tensor* t : {r.mutable_start_state(), r.mutable_end_state()}) {
      t->set_dtype(v1::DTYPE_FLOAT64);
      t->add_shape(2);
      t->add_shape(3);
    }
    for (int w = 0; w < 2; ++w) {
      const std::vector<double> end = Lorenz63Steps(x, 10);
      for (int d = 0; d < 3; ++d) {
        r.mutable_start_state()->add_f64(x[d] + noise * sensor(random));
        r.mutable_end_state()->add_f64(end[d] + noise * sensor(random));
      }
      x = Lorenz63Steps(end, 7);
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace hybrid::testing
