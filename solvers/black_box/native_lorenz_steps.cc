#include "solvers/black_box/native_lorenz_steps.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace hybrid::solvers {
namespace {

// RK4 and its tangent-linear model for a vector field given by two callables:
// f(x, θ, out) and its directional derivative jvp(x, θ, dx, out) = ∂f/∂x · dx.
template <typename Field>
class Rk4Step : public BlackBoxStep {
 public:
  Rk4Step(std::string name, int64_t dim, std::vector<BlackBoxParameter> parameters, Field field)
      : name_(std::move(name)), dim_(dim), parameters_(std::move(parameters)), field_(std::move(field)) {}

  std::string name() const override { return name_; }
  int64_t state_dim() const override { return dim_; }
  const std::vector<BlackBoxParameter>& parameters() const override { return parameters_; }
  bool has_tangent_linear() const override { return true; }

  absl::Status Advance(const double* x, const double* theta, double h, int64_t steps, double* out) const override {
    return Run(x, theta, h, steps, nullptr, out, nullptr);
  }

  absl::Status TangentLinear(const double* x, const double* theta, double h, int64_t steps, const double* dx,
                             double* dout) const override {
    std::vector<double> end(static_cast<size_t>(dim_));
    return Run(x, theta, h, steps, dx, end.data(), dout);
  }

 private:
  // Advances x (and, when dx is given, the tangent dx along with it).
  absl::Status Run(const double* x0, const double* theta, double h, int64_t steps, const double* dx0, double* out,
                   double* dout) const {
    const size_t d = static_cast<size_t>(dim_);
    const bool tangent = dx0 != nullptr;
    std::vector<double> x(x0, x0 + d), dx(tangent ? dx0 : x0, tangent ? dx0 + d : x0 + d);
    std::vector<double> k[4], dk[4], stage(d), dstage(d);
    for (int i = 0; i < 4; ++i) {
      k[i].resize(d);
      dk[i].resize(d);
    }
    static constexpr double kNode[4] = {0.0, 0.5, 0.5, 1.0};
    for (int64_t s = 0; s < steps; ++s) {
      for (int i = 0; i < 4; ++i) {
        for (size_t j = 0; j < d; ++j) {
          stage[j] = i == 0 ? x[j] : x[j] + kNode[i] * h * k[i - 1][j];
          if (tangent) dstage[j] = i == 0 ? dx[j] : dx[j] + kNode[i] * h * dk[i - 1][j];
        }
        field_.Evaluate(stage.data(), theta, k[i].data());
        if (tangent) field_.Derivative(stage.data(), theta, dstage.data(), dk[i].data());
      }
      for (size_t j = 0; j < d; ++j) {
        x[j] += h / 6.0 * (k[0][j] + 2.0 * k[1][j] + 2.0 * k[2][j] + k[3][j]);
        if (tangent) dx[j] += h / 6.0 * (dk[0][j] + 2.0 * dk[1][j] + 2.0 * dk[2][j] + dk[3][j]);
      }
    }
    for (size_t j = 0; j < d; ++j) {
      if (!std::isfinite(x[j])) {
        return absl::FailedPreconditionError(absl::StrCat(name_, ": state component ", j, " became non-finite"));
      }
      out[j] = x[j];
      if (tangent) dout[j] = dx[j];
    }
    return absl::OkStatus();
  }

  std::string name_;
  int64_t dim_;
  std::vector<BlackBoxParameter> parameters_;
  Field field_;
};

struct Lorenz63Field {
  bool beta_term;
  void Evaluate(const double* x, const double* p, double* f) const {
    f[0] = p[0] * (x[1] - x[0]);
    f[1] = x[0] * (p[1] - x[2]) - x[1];
    f[2] = x[0] * x[1] - (beta_term ? p[2] * x[2] : 0.0);
  }
  void Derivative(const double* x, const double* p, const double* v, double* df) const {
    df[0] = p[0] * (v[1] - v[0]);
    df[1] = v[0] * (p[1] - x[2]) - x[0] * v[2] - v[1];
    df[2] = v[0] * x[1] + x[0] * v[1] - (beta_term ? p[2] * v[2] : 0.0);
  }
};

struct Lorenz96Field {
  int64_t n;
  int64_t At(int64_t i) const { return ((i % n) + n) % n; }
  void Evaluate(const double* x, const double* p, double* f) const {
    for (int64_t i = 0; i < n; ++i) f[i] = (x[At(i + 1)] - x[At(i - 2)]) * x[At(i - 1)] - x[i] + p[0];
  }
  void Derivative(const double* x, const double* /*p*/, const double* v, double* df) const {
    for (int64_t i = 0; i < n; ++i) {
      df[i] = (v[At(i + 1)] - v[At(i - 2)]) * x[At(i - 1)] + (x[At(i + 1)] - x[At(i - 2)]) * v[At(i - 1)] - v[i];
    }
  }
};

}  // namespace

std::shared_ptr<const BlackBoxStep> MakeLorenz63Step(bool beta_term) {
  std::vector<BlackBoxParameter> parameters = {
      {"sigma", "1", 10.0, 1e-3, 1e3, true, "Prandtl number"},
      {"rho", "1", 28.0, 1e-3, 1e3, true, "Rayleigh number (scaled)"},
      {"beta", "1", 8.0 / 3.0, 1e-3, 1e3, true, "aspect-ratio factor"},
  };
  return std::make_shared<Rk4Step<Lorenz63Field>>("lorenz63_step", 3, std::move(parameters), Lorenz63Field{beta_term});
}

std::shared_ptr<const BlackBoxStep> MakeLorenz96Step(int64_t n) {
  std::vector<BlackBoxParameter> parameters = {{"F", "1", 8.0, 1e-3, 1e3, true, "forcing"}};
  return std::make_shared<Rk4Step<Lorenz96Field>>("lorenz96_step", n, std::move(parameters), Lorenz96Field{n});
}

}  // namespace hybrid::solvers
