// hybridctl watch: what one refresh shows of a model being calibrated —
// version, observations/s, loss, coverage against its target, and each
// parameter's estimate ± spread with a sparkline of its recent values.
//
//   WatchView view(/*history=*/40);
//   std::string frame = view.Render(response, seconds_since_start);   // after each GetModel
//
// Not thread-safe (one refresh loop).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "hybrid/v1/hybrid_service.pb.h"

namespace hybrid::client {

// One character per value, ▁ (the smallest) to █ (the largest); ▄ when all are equal.
std::string Sparkline(const std::vector<double>& values);

class WatchView {
 public:
  explicit WatchView(size_t history) : history_(history) {}
  // The frame for `model` as GetModel answered it at `seconds` since watching began.
  std::string Render(const v1::GetModelResponse& model, double seconds);

 private:
  const size_t history_;
  std::map<std::string, std::deque<double>> values_;
  double last_seconds_ = -1;
  uint64_t last_observations_ = 0;
};

}  // namespace hybrid::client
