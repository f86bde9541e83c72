// Standard normal draws that depend only on where they fall, for the
// stochastic model-error forcing of forecasts (solvers/uncertainty/
// perturbed_forecast.h): draw (step s, member m, row r, component d) of a
// seed is Box–Muller of Random123's counter-based Philox4x64-10 at counter
// (s, m, r, ⌊d/4⌋) under key (seed, kForcingStream), the Box–Muller pairs
// transformed eight vectors at a time (xsimd). Nothing is sequential, so
// a forecast draws the same noise alone, batched with others (its rows keep
// their own indices), cut into any number of solver calls, on any thread, on
// the fused kernel or the LibTorch path — bit for bit by construction, which a
// sequential generator only gives when every caller draws in the same order.
//
//   std::vector<int64_t> rows = {0, 1, 2, 0, 1};   // two forecasts of 3 and 2 rows
//   std::vector<double> xi(rows.size() * dim);
//   StepNormals(StepNoise{seed, rows.data(), 5, dim}, /*step=*/7, /*member=*/2, xi.data());
//
// Torch-free (library hybrid_fused_kernels). Thread-safe: no state.
#pragma once

#include <cstdint>

namespace hybrid::solvers {

struct StepNoise {
  uint64_t seed = 0;
  const int64_t* rows = nullptr;  // [batch]: each row's index within its own forecast.
  int64_t batch = 0;
  int64_t dim = 0;
};

// out [batch, dim] ← the draws of (step, member) for every row.
void StepNormals(const StepNoise& noise, int64_t step, int64_t member, double* out);

}  // namespace hybrid::solvers
