#include "solvers/torchscript/torchscript_physics.h"

#include <functional>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "solvers/black_box/black_box_physics.h"
#include "solvers/torchscript/script_checks.h"

namespace hybrid::solvers {
namespace {

constexpr int64_t kMaxComponents = 1000000;

std::string FileField(const TorchScriptDescription& d) { return absl::StrCat("torchscript.file '", d.file, "'"); }

absl::Status ValidateDescription(const TorchScriptDescription& d) {
  const auto count = static_cast<int64_t>(d.components.size());
  if (count < 1 || count > kMaxComponents) {
    return absl::InvalidArgumentError(
        absl::StrCat("torchscript.components: needs 1 to ", kMaxComponents, " state components, got ", count));
  }
  std::set<std::string> names;
  for (size_t i = 0; i < d.components.size(); ++i) {
    const std::string& name = d.components[i].name;
    if (name.empty() || !names.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("torchscript.components[", i, "] ('", name, "'): names must be non-empty and distinct"));
    }
  }
  return ValidateParameters(d.parameters, "torchscript.parameters");
}

// θ at the defaults for `members` rows, [M, P].
at::Tensor DefaultTheta(const TorchScriptDescription& d, int64_t members, at::ScalarType dtype) {
  std::vector<double> values;
  for (const BlackBoxParameter& p : d.parameters) values.push_back(p.default_value);
  const auto p = static_cast<int64_t>(values.size());
  return at::tensor(values, at::kDouble).view({1, p}).expand({members, p}).to(dtype).contiguous();
}

}  // namespace

TorchScriptModule::TorchScriptModule(TorchScriptDescription description, std::unique_ptr<torch::jit::Module> module)
    : description_(std::move(description)), module_(std::move(module)) {}

TorchScriptModule::~TorchScriptModule() = default;

at::Tensor TorchScriptModule::Forward(double t, const at::Tensor& x, const at::Tensor& theta) const {
  return RunChecked(*module_, "forward", {at::scalar_tensor(t, x.options()), x, theta},
                    {x, x.sizes().vec(), "[M, B, D]"}, FileField(description_), absl::StrCat(" at t = ", t));
}

at::Tensor TorchScriptModule::Observe(const at::Tensor& x, const at::Tensor& theta) const {
  return RunChecked(*module_, "observe", {x, theta},
                    {x,
                     {x.size(0), x.size(1), description_.observables},
                     absl::StrCat("[M, B, ", description_.observables, "]: one column per scripted observable")},
                    FileField(description_));
}

absl::StatusOr<std::shared_ptr<const TorchScriptModule>> LoadTorchScriptModule(
    const TorchScriptDescription& description, at::ScalarType dtype) {
  if (absl::Status s = ValidateDescription(description); !s.ok()) return s;
  const std::string field = FileField(description);
  absl::StatusOr<torch::jit::Module> module = LoadScriptFile(description.file, field);
  if (!module.ok()) return module.status();
  absl::StatusOr<torch::jit::Method> forward =
      CheckedMethod(*module, "forward", 3, "forward(self, t, x, theta) -> dx/dt", field);
  if (!forward.ok()) return forward.status();
  if (description.observables > 0) {
    absl::StatusOr<torch::jit::Method> observe =
        CheckedMethod(*module, "observe", 2,
                      absl::StrCat("observe(self, x, theta) -> readings [M, B, ", description.observables, "]"), field);
    if (!observe.ok()) return observe.status();
  }
  std::shared_ptr<const TorchScriptModule> loaded(
      new TorchScriptModule(description, std::make_unique<torch::jit::Module>(*std::move(module))));

  // A probe: finite values of the promised shape and dtype.
  const auto d = static_cast<int64_t>(description.components.size());
  constexpr int64_t kMembers = 2, kStates = 2;
  at::Generator generator = at::detail::createCPUGenerator(/*seed_in=*/20261202);
  const at::Tensor x = (0.5 + 0.1 * at::randn({kMembers, kStates, d}, generator, at::kDouble)).to(dtype);
  const at::Tensor theta = DefaultTheta(description, kMembers, dtype);
  // Each method: on the probe, finite values of the promised shape and dtype; then autograd along a random
  // direction against central differences, in float64.
  using Method = std::function<at::Tensor(const at::Tensor&, const at::Tensor&)>;
  std::vector<std::pair<const char*, Method>> methods = {
      {"forward", [&](const at::Tensor& x, const at::Tensor& theta) { return loaded->Forward(0.0, x, theta); }}};
  if (description.observables > 0) {
    methods.push_back(
        {"observe", [&](const at::Tensor& x, const at::Tensor& theta) { return loaded->Observe(x, theta); }});
  }
  for (const auto& [name, run] : methods) {
    at::Tensor out;
    try {
      at::NoGradGuard no_grad;
      out = run(x, theta);
    } catch (const std::exception& e) {  // A SolverFailure naming the file.
      return absl::InvalidArgumentError(absl::StrCat(e.what(), " (on a probe: x ≈ 0.5, theta at the defaults)"));
    }
    if (!at::isfinite(out).all().item<bool>()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": ", name,
                                                     " answers non-finite values on a probe (x ≈ 0.5, theta at the "
                                                     "defaults)"));
    }
    try {
      const at::Tensor x64 = x.to(at::kDouble).detach().requires_grad_(true);
      const at::Tensor theta64 = theta.to(at::kDouble).detach().requires_grad_(true);
      const at::Tensor v = at::randn(out.sizes(), generator, at::kDouble);
      const at::Tensor dx = at::randn({kMembers, kStates, d}, generator, at::kDouble);
      const at::Tensor dtheta = theta64.detach() * 0.1 * at::randn(theta64.sizes(), generator, at::kDouble);
      const double autograd = DirectionalDerivative((run(x64, theta64) * v).sum(), {x64, theta64}, {dx, dtheta});
      auto shifted = [&](double h) {
        at::NoGradGuard no_grad;
        return (run(x64.detach() + h * dx, theta64.detach() + h * dtheta) * v).sum().item<double>();
      };
      if (absl::Status s = CheckAgainstDifferences(autograd, shifted, field, name); !s.ok()) return s;
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", name, " in float64 or under autograd, on a probe: ", ScriptErrorReason(e)));
    }
  }
  return loaded;
}

TorchScriptPhysics::TorchScriptPhysics(std::shared_ptr<const TorchScriptModule> module,
                                       std::vector<ParameterSpec> specs, const PhysicsOptions& options)
    : ScientificModel(std::move(specs), options), module_(std::move(module)) {}

absl::StatusOr<std::shared_ptr<TorchScriptPhysics>> TorchScriptPhysics::Create(
    std::shared_ptr<const TorchScriptModule> module, const PhysicsOptions& options) {
  std::vector<ParameterSpec> specs = SpecsOf(module->description().parameters);
  ScientificModel::OptionsReader read(specs, options, /*known=*/{});
  if (!read.status().ok()) return read.status();
  return std::shared_ptr<TorchScriptPhysics>(new TorchScriptPhysics(std::move(module), std::move(specs), options));
}

at::Tensor TorchScriptPhysics::Theta(int64_t members, const at::TensorOptions& options) const {
  std::vector<at::Tensor> columns;
  for (size_t i = 0; i < specs().size(); ++i) columns.push_back(Value(i).narrow(0, 0, members));
  return columns.empty() ? at::zeros({members, 0}, options) : at::stack(columns, 1);
}

at::Tensor TorchScriptPhysics::Evaluate(double t, const at::Tensor& x) const {
  CheckState(x);
  return module_->Forward(t, x, Theta(members(), x.options()));
}

at::Tensor TorchScriptPhysics::Observe(const at::Tensor& x) const {
  TORCH_CHECK(x.dim() == 3 && x.size(0) <= members() && x.size(2) == state_dim(), "Observe: x must be [K ≤ ", members(),
              ", B, ", state_dim(), "], got ", x.sizes());
  const at::Tensor states = specs().empty() ? x : x.to(Raw(0).scalar_type());  // The model's dtype.
  return module_->Observe(states, Theta(x.size(0), states.options())).to(at::kDouble);
}

}  // namespace hybrid::solvers
