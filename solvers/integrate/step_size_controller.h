// The PI step-size controller of adaptive Runge–Kutta (Hairer, Nørsett &
// Wanner, "Solving ODEs I", II.4, with the constants of Hairer's dopri5.f),
// kept apart from the step loop as odeint and Diffrax keep theirs:
//
//   PiStepController controller(tableau.error_order);
//   h = accepted ? controller.Accepted(h, error) : controller.Rejected(h, error);
//
// `error` is the step's error estimate scaled by atol + rtol·|x| (≤ 1 accepts).
// After a rejection the next step never grows; after an acceptance it grows at
// most 10×, shrinks at most 5×, and the previous error damps the reaction
// (the I and P terms). Plain arithmetic; not thread-safe (one per solve).
#pragma once

#include <algorithm>
#include <cmath>

namespace hybrid::solvers {

class PiStepController {
 public:
  static constexpr double kSafety = 0.9;
  static constexpr double kBeta = 0.04;
  static constexpr double kMinFactor = 0.2;
  static constexpr double kMaxFactor = 10.0;

  explicit PiStepController(int error_order) : exponent_(1.0 / (error_order + 1) - 0.75 * kBeta) {}

  // The next step after a rejected one (error > 1, or not finite: shrink 5×).
  double Rejected(double h, double error) {
    last_rejected_ = true;
    const double factor =
        std::isfinite(error) ? std::max(kMinFactor, kSafety * std::pow(error, -exponent_)) : kMinFactor;
    return h * std::min(1.0, factor);
  }

  // The next step after an accepted one.
  double Accepted(double h, double error) {
    double factor = kSafety * std::pow(error, -exponent_) * std::pow(previous_error_, kBeta);
    factor = std::clamp(factor, kMinFactor, last_rejected_ ? 1.0 : kMaxFactor);
    previous_error_ = std::max(error, 1e-4);
    last_rejected_ = false;
    return h * factor;
  }

 private:
  double exponent_;
  double previous_error_ = 1e-4;
  bool last_rejected_ = false;
};

}  // namespace hybrid::solvers
