// BlackBoxStep: a physics solver step Ψ(x; θ, h, n) that is plain code, not
// LibTorch: no autograd passes through it. The native Lorenz steps
// (native_lorenz_steps.h) and C-ABI plugins (plugin_step.h) implement it;
// BlackBoxPhysics (black_box_physics.h) puts one inside a HybridModel.
//
//   std::shared_ptr<const BlackBoxStep> psi = MakeLorenz96Step(40);
//   std::vector<double> out(40);
//   absl::Status s = psi->Advance(x.data(), theta.data(), /*h=*/0.05, /*steps=*/1, out.data());
//
// Shapes: x, out and tangents hold state_dim() doubles; theta holds
// parameters().size() doubles in that order (physical values, not logs).
// Thread-safety: every method is const and must be safe to call from several
// threads at once (Predict and calibration call it concurrently).
// Errors: FAILED_PRECONDITION when the solver reports a failure (a plugin's
// non-zero return code) or its output is not finite.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace hybrid::solvers {

// What the rest of the model needs to know about one physical parameter.
struct BlackBoxParameter {
  std::string name;
  std::string unit;
  double default_value = 0.0;
  double lower = 0.0;
  double upper = 0.0;
  bool positive = true;  // Calibrated in log space; lower must then be > 0.
  std::string description;
};

// INVALID_ARGUMENT naming `field`[i] ('name') for an empty or repeated name,
// bounds that are not finite with lower < upper, a positive parameter with
// lower ≤ 0, or a default outside the bounds.
absl::Status ValidateParameters(const std::vector<BlackBoxParameter>& parameters, const std::string& field);

class BlackBoxStep {
 public:
  virtual ~BlackBoxStep() = default;

  // For messages and checkpoints ("lorenz96_step", "plugin:/path/lib.so").
  virtual std::string name() const = 0;
  virtual int64_t state_dim() const = 0;
  virtual const std::vector<BlackBoxParameter>& parameters() const = 0;

  // out = Ψ(x; θ) after `steps` ≥ 1 steps of size h > 0. out may not alias x.
  virtual absl::Status Advance(const double* x, const double* theta, double h, int64_t steps, double* out) const = 0;

  // The tangent-linear model: dout = (∂Ψ/∂x at x) · dx.
  virtual bool has_tangent_linear() const { return false; }
  // UNIMPLEMENTED unless has_tangent_linear().
  virtual absl::Status TangentLinear(const double* x, const double* theta, double h, int64_t steps, const double* dx,
                                     double* dout) const;
};

}  // namespace hybrid::solvers
