// Calibrate requests carrying windows of the true Lorenz-63 (σ 10, ρ 28,
// β 8/3), computed with a plain C++ RK4 independent of the server's.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "hybrid/v1/hybrid_service.pb.h"

namespace hybrid::testing {

// The true Lorenz-63 (σ 10, ρ 28, β 8/3), RK4 with h = 0.01.
inline std::vector<double> Lorenz63Steps(std::vector<double> x, int steps) {
  auto f = [](const std::vector<double>& s) {
    return std::vector<double>{10.0 * (s[1] - s[0]), s[0] * (28.0 - s[2]) - s[1], s[0] * s[1] - 8.0 / 3.0 * s[2]};
  };
  const double h = 0.01;
  for (int n = 0; n < steps; ++n) {
    auto axpy = [](const std::vector<double>& a, double c, const std::vector<double>& b) {
      return std::vector<double>{a[0] + c * b[0], a[1] + c * b[1], a[2] + c * b[2]};
    };
    const auto k1 = f(x), k2 = f(axpy(x, h / 2, k1)), k3 = f(axpy(x, h / 2, k2)), k4 = f(axpy(x, h, k3));
    for (int d = 0; d < 3; ++d) x[d] += h / 6 * (k1[d] + 2 * k2[d] + 2 * k3[d] + k4[d]);
  }
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
