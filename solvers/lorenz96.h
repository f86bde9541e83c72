// Lorenz-96 (Lorenz 1996, "Predictability: a problem partly solved"), the
// standard toy for climate closures:
//   dx_i/dt = (x_{i+1} − x_{i−2}) x_{i−1} − x_i + F,   i = 1…N, periodic,
// defaults N = 40, F = 8 (chaotic). Dimensionless. Structure: "n" (4…100000).
// The advection term conserves ½Σx_i², so d/dt ½Σx² = −Σx_i² + F Σx_i.
// State [M, B, N]; parameter "F" (forcing), one value per member.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "solvers/scientific_model.h"

namespace hybrid::solvers {

class Lorenz96 : public ScientificModel {
 public:
  static absl::StatusOr<std::shared_ptr<Lorenz96>> Create(const PhysicsOptions& options);
  static const std::vector<ParameterSpec>& Specs();

  int64_t state_dim() const override { return n_; }
  at::Tensor Evaluate(double t, const at::Tensor& x) const override;

 private:
  Lorenz96(const PhysicsOptions& options, int64_t n) : ScientificModel(Specs(), options), n_(n) {}
  int64_t n_;
};

}  // namespace hybrid::solvers
