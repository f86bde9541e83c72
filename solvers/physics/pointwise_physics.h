// PointwisePhysics: a catalog model's vector field written over raw arrays,
// for the fused ensemble kernels (solvers/fused/): no LibTorch, no allocation.
//
//   const PointwisePhysics* f = model.pointwise();   // null: the model has none
//   f->Evaluate(x, b, theta, dxdt);                   // one member's b states
//
// Contract: x and dxdt are b states of one member, row-major [b, D]
// (D = state_dim()); theta holds that member's P = parameters() physical
// values in Specs() order (values, not the log-stored raw form). The field is
// autonomous (no t). Vjp adds, for an upstream gradient g [b, D] of dxdt,
// gᵀ ∂f/∂x to grad_x [b, D] and gᵀ ∂f/∂θ (summed over the b states) to
// grad_theta [P]. Const and thread-safe; float and double.
#pragma once

#include <cstdint>

namespace hybrid::solvers {

class PointwisePhysics {
 public:
  virtual ~PointwisePhysics() = default;
  virtual int64_t state_dim() const = 0;
  virtual int64_t parameters() const = 0;
  virtual void Evaluate(const double* x, int64_t b, const double* theta, double* dxdt) const = 0;
  virtual void Evaluate(const float* x, int64_t b, const float* theta, float* dxdt) const = 0;
  virtual void Vjp(const double* x, int64_t b, const double* theta, const double* g, double* grad_x,
                   double* grad_theta) const = 0;
  virtual void Vjp(const float* x, int64_t b, const float* theta, const float* g, float* grad_x,
                   float* grad_theta) const = 0;
};

// Implements both precisions from one class template Equations<T> with
// static Evaluate and Vjp of the signatures above (T = float, double).
template <template <typename> class Equations>
class PointwisePhysicsOf : public PointwisePhysics {
 public:
  PointwisePhysicsOf(int64_t state_dim, int64_t parameters) : state_dim_(state_dim), parameters_(parameters) {}
  int64_t state_dim() const override { return state_dim_; }
  int64_t parameters() const override { return parameters_; }
  void Evaluate(const double* x, int64_t b, const double* theta, double* dxdt) const override {
    Equations<double>::Evaluate(x, b, theta, dxdt);
  }
  void Evaluate(const float* x, int64_t b, const float* theta, float* dxdt) const override {
    Equations<float>::Evaluate(x, b, theta, dxdt);
  }
  void Vjp(const double* x, int64_t b, const double* theta, const double* g, double* grad_x,
           double* grad_theta) const override {
    Equations<double>::Vjp(x, b, theta, g, grad_x, grad_theta);
  }
  void Vjp(const float* x, int64_t b, const float* theta, const float* g, float* grad_x,
           float* grad_theta) const override {
    Equations<float>::Vjp(x, b, theta, g, grad_x, grad_theta);
  }

 private:
  int64_t state_dim_;
  int64_t parameters_;
};

}  // namespace hybrid::solvers
