#include "solvers/black_box/black_box_physics.h"

#include <ATen/ATen.h>

#include <string>

#include "solvers/black_box/native_lorenz_steps.h"
#include "solvers/physics/physics_catalog.h"
#include "solvers/torch_status.h"

namespace hybrid::solvers {
namespace {

template <const char* kName>
absl::StatusOr<std::shared_ptr<ScientificModel>> NativeFactory(const PhysicsOptions& options) {
  absl::StatusOr<std::shared_ptr<BlackBoxPhysics>> physics = BlackBoxPhysics::CreateNative(kName, options);
  if (!physics.ok()) return physics.status();
  return std::shared_ptr<ScientificModel>(*std::move(physics));
}
constexpr char kLorenz63Step[] = "lorenz63_step";
constexpr char kLorenz96Step[] = "lorenz96_step";

// x as contiguous doubles [M, B, D].
at::Tensor AsDoubles(const at::Tensor& x) { return x.detach().to(at::kDouble).contiguous(); }

}  // namespace

std::vector<ParameterSpec> SpecsOf(const std::vector<BlackBoxParameter>& parameters) {
  std::vector<ParameterSpec> specs;
  for (const BlackBoxParameter& p : parameters) {
    ParameterSpec spec{p.name, p.unit, p.default_value, p.lower, p.upper, p.description};
    spec.positive = p.positive;
    specs.push_back(spec);
  }
  return specs;
}

absl::StatusOr<std::shared_ptr<BlackBoxPhysics>> BlackBoxPhysics::Create(std::shared_ptr<const BlackBoxStep> step,
                                                                         const PhysicsOptions& options) {
  std::vector<ParameterSpec> specs = SpecsOf(step->parameters());
  if (absl::Status s = Validate(specs, options); !s.ok()) return s;
  return std::shared_ptr<BlackBoxPhysics>(new BlackBoxPhysics(std::move(step), std::move(specs), options));
}

absl::StatusOr<std::shared_ptr<BlackBoxPhysics>> BlackBoxPhysics::CreateNative(const std::string& physics,
                                                                               const PhysicsOptions& options) {
  const bool lorenz63 = physics == "lorenz63_step";
  if (absl::Status s = CheckStructureKeys(options, {lorenz63 ? "beta_term" : "n"}); !s.ok()) return s;
  absl::StatusOr<int64_t> value =
      lorenz63 ? StructureInt(options, "beta_term", 1, 0, 1) : StructureInt(options, "n", 40, 4, 100000);
  if (!value.ok()) return value.status();
  return Create(lorenz63 ? MakeLorenz63Step(*value == 1) : MakeLorenz96Step(*value), options);
}

BlackBoxPhysics::BlackBoxPhysics(std::shared_ptr<const BlackBoxStep> step, std::vector<ParameterSpec> specs,
                                 const PhysicsOptions& options)
    : ScientificModel(std::move(specs), options), step_(std::move(step)) {}

at::Tensor BlackBoxPhysics::Evaluate(double, const at::Tensor&) const {
  TORCH_CHECK(false, "black-box physics '", step_->name(), "' has no vector field; it advances by its own step");
}

std::vector<std::vector<double>> BlackBoxPhysics::MemberTheta() const {
  std::vector<std::vector<double>> theta(static_cast<size_t>(members()));
  for (size_t p = 0; p < specs().size(); ++p) {
    const at::Tensor v = Value(p).detach().to(at::kDouble).contiguous();
    for (int64_t m = 0; m < members(); ++m) theta[m].push_back(v.data_ptr<double>()[m]);
  }
  return theta;
}

at::Tensor BlackBoxPhysics::Advance(const at::Tensor& x, double h, int64_t steps) const {
  CheckState(x);
  const at::Tensor in = AsDoubles(x);
  at::Tensor out = at::empty_like(in);
  const std::vector<std::vector<double>> theta = MemberTheta();
  const int64_t batch = in.size(1), dim = in.size(2);
  const double* src = in.data_ptr<double>();
  double* dst = out.data_ptr<double>();
  for (int64_t m = 0; m < members(); ++m) {
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t offset = (m * batch + b) * dim;
      const absl::Status s = step_->Advance(src + offset, theta[m].data(), h, steps, dst + offset);
      if (!s.ok()) throw SolverFailure(std::string(s.message()));
    }
  }
  return out.to(x.scalar_type());
}

at::Tensor BlackBoxPhysics::Jacobian(const at::Tensor& x, double h, int64_t steps) const {
  CheckState(x);
  TORCH_CHECK(step_->has_tangent_linear(), "black-box physics '", step_->name(), "' supplies no tangent-linear model");
  const at::Tensor in = AsDoubles(x);
  const int64_t batch = in.size(1), dim = in.size(2);
  at::Tensor jacobian = at::zeros({members(), batch, dim, dim}, at::kDouble);  // [.., output i, input j]
  const std::vector<std::vector<double>> theta = MemberTheta();
  std::vector<double> direction(static_cast<size_t>(dim), 0.0), column(static_cast<size_t>(dim));
  auto rows = jacobian.accessor<double, 4>();
  for (int64_t m = 0; m < members(); ++m) {
    for (int64_t b = 0; b < batch; ++b) {
      const double* state = in.data_ptr<double>() + (m * batch + b) * dim;
      for (int64_t j = 0; j < dim; ++j) {
        direction[j] = 1.0;
        const absl::Status s = step_->TangentLinear(state, theta[m].data(), h, steps, direction.data(), column.data());
        if (!s.ok()) throw SolverFailure(std::string(s.message()));
        direction[j] = 0.0;
        for (int64_t i = 0; i < dim; ++i) rows[m][b][i][j] = column[i];
      }
    }
  }
  return jacobian.to(x.scalar_type());
}

// The native steps are catalog models too, under the names of their LibTorch twins + "_step".
HYBRID_REGISTER_PHYSICS(lorenz63_step,
                        "Lorenz-63 as a black-box plain-C++ RK4 step with a tangent-linear model (sigma, rho, beta); "
                        "structure beta_term",
                        NativeFactory<kLorenz63Step>)
HYBRID_REGISTER_PHYSICS(lorenz96_step,
                        "Lorenz-96 as a black-box plain-C++ RK4 step with a tangent-linear model (F); structure n",
                        NativeFactory<kLorenz96Step>)

}  // namespace hybrid::solvers
