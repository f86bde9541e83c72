// A Predict request whose answer is large: 64 Lorenz-63 states over 1000
// output times (horizon 10, step 0.01) — 64·1000·3 = 192 000 values per tensor,
// 1.5 MB each — with the given interval levels.
#pragma once

#include <vector>

#include "hybrid/v1/hybrid_service.pb.h"
#include "tests/test_tensors.h"

namespace hybrid::testing {

inline v1::PredictRequest LargeForecast(const std::vector<double>& levels) {
  v1::PredictRequest r;
  r.set_model("lorenz63");
  std::vector<double> states;
  for (int b = 0; b < 64; ++b) states.insert(states.end(), {1.0 + 0.01 * b, 1.0, 20.0});
  *r.mutable_initial_state() = F64({64, 3}, states);
  r.mutable_horizon()->set_horizon(10.0);
  r.mutable_horizon()->set_step(0.01);
  for (double level : levels) r.add_interval_levels(level);
  return r;
}

}  // namespace hybrid::testing
