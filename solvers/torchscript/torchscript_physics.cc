#include "solvers/torchscript/torchscript_physics.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "solvers/black_box/black_box_physics.h"
#include "solvers/torch_status.h"

namespace hybrid::solvers {
namespace {

constexpr int64_t kMaxComponents = 1000000;

std::string FileField(const TorchScriptDescription& d) { return absl::StrCat("torchscript.file '", d.file, "'"); }

// What went wrong, in one line: LibTorch errors lead with it and follow with
// a backtrace; the interpreter's lead with a traceback and end with it.
std::string Reason(const std::exception& e) {
  const auto* torch_error = dynamic_cast<const c10::Error*>(&e);
  std::string text = torch_error ? torch_error->what_without_backtrace() : e.what();
  if (absl::StartsWith(text, "The following operation failed in the TorchScript interpreter")) {
    text = std::string(absl::StripTrailingAsciiWhitespace(text));
    return text.substr(text.rfind('\n') + 1);
  }
  return text.substr(0, text.find('\n'));
}

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

// Whether `method`, with every method it calls inlined, sets an attribute.
bool WritesItsAttributes(const torch::jit::Method& method) {
  std::shared_ptr<torch::jit::Graph> graph = method.graph()->copy();
  torch::jit::Inline(*graph);
  std::function<bool(const torch::jit::Block*)> writes = [&](const torch::jit::Block* block) {
    for (const torch::jit::Node* node : block->nodes()) {
      if (node->kind() == c10::prim::SetAttr) return true;
      for (const torch::jit::Block* inner : node->blocks()) {
        if (writes(inner)) return true;
      }
    }
    return false;
  };
  return writes(graph->block());
}

// θ at the defaults for `members` rows, [M, P].
at::Tensor DefaultTheta(const TorchScriptDescription& d, int64_t members, at::ScalarType dtype) {
  std::vector<double> values;
  for (const BlackBoxParameter& p : d.parameters) values.push_back(p.default_value);
  const auto p = static_cast<int64_t>(values.size());
  return at::tensor(values, at::kDouble).view({1, p}).expand({members, p}).to(dtype).contiguous();
}

// Σ v·f(t, x + h·dx, θ + h·dθ) for the differentiability probe.
double Projection(const TorchScriptModule& m, const at::Tensor& x, const at::Tensor& theta, const at::Tensor& v,
                  const at::Tensor& dx, const at::Tensor& dtheta, double h) {
  at::NoGradGuard no_grad;
  return (m.Forward(0.5, x + h * dx, theta + h * dtheta) * v).sum().item<double>();
}

}  // namespace

TorchScriptModule::TorchScriptModule(TorchScriptDescription description, std::unique_ptr<torch::jit::Module> module)
    : description_(std::move(description)), module_(std::move(module)) {}

TorchScriptModule::~TorchScriptModule() = default;

at::Tensor TorchScriptModule::Forward(double t, const at::Tensor& x, const at::Tensor& theta) const {
  const std::string module = absl::StrCat(FileField(description_), ": forward ");
  std::vector<c10::IValue> inputs{at::scalar_tensor(t, x.options()), x, theta};
  c10::IValue answer;
  try {
    answer = module_->forward(std::move(inputs));
  } catch (const std::exception& e) {
    throw SolverFailure(absl::StrCat(module, "failed at t = ", t, ": ", Reason(e)));
  }
  if (!answer.isTensor()) throw SolverFailure(absl::StrCat(module, "answered a ", answer.tagKind(), ", not a Tensor"));
  at::Tensor out = answer.toTensor();
  if (out.sizes() != x.sizes()) {
    throw SolverFailure(absl::StrCat(module, "answered shape ", c10::str(out.sizes()), " for states of shape ",
                                     c10::str(x.sizes()), " (it must be [M, B, D])"));
  }
  if (out.scalar_type() != x.scalar_type()) {
    throw SolverFailure(absl::StrCat(module, "answered ", c10::toString(out.scalar_type()), " for ",
                                     c10::toString(x.scalar_type()), " states"));
  }
  return out;
}

absl::StatusOr<std::shared_ptr<const TorchScriptModule>> LoadTorchScriptModule(
    const TorchScriptDescription& description, at::ScalarType dtype) {
  if (absl::Status s = ValidateDescription(description); !s.ok()) return s;
  const std::string field = FileField(description);
  std::error_code error;
  if (!std::filesystem::is_regular_file(description.file, error)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": no such file"));
  }
  auto module = std::make_unique<torch::jit::Module>();
  try {
    *module = torch::jit::load(description.file);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(field, " does not load as TorchScript: ", Reason(e)));
  }
  module->eval();
  const auto forward = module->find_method("forward");  // c10::optional<Method>
  if (!forward) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " has no method 'forward' (forward(self, t, x, theta) -> dx/dt)"));
  }
  if (const c10::FunctionSchema& schema = forward->function().getSchema(); schema.arguments().size() != 4) {
    std::ostringstream text;
    text << schema;
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": forward must take (self, t, x, theta), its schema is ", text.str()));
  }
  // Copies of the model run one module from several threads: it must not change itself.
  if (WritesItsAttributes(*forward)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field,
                     ": forward assigns to attributes of the module (self.… = …); a module served to concurrent "
                     "forecasts must not change itself"));
  }
  std::shared_ptr<const TorchScriptModule> loaded(new TorchScriptModule(description, std::move(module)));

  // A probe: finite values of the promised shape and dtype.
  const auto d = static_cast<int64_t>(description.components.size());
  constexpr int64_t kMembers = 2, kStates = 2;
  at::Generator generator = at::detail::createCPUGenerator(/*seed_in=*/20261202);
  const at::Tensor x = (0.5 + 0.1 * at::randn({kMembers, kStates, d}, generator, at::kDouble)).to(dtype);
  const at::Tensor theta = DefaultTheta(description, kMembers, dtype);
  at::Tensor out;
  try {
    at::NoGradGuard no_grad;
    out = loaded->Forward(0.0, x, theta);
  } catch (const std::exception& e) {  // A SolverFailure naming the file.
    return absl::InvalidArgumentError(absl::StrCat(e.what(), " (on a probe: x ≈ 0.5, theta at the defaults)"));
  }
  if (!at::isfinite(out).all().item<bool>()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": forward answers non-finite values on a probe (x ≈ 0.5, theta at the defaults)"));
  }

  // Differentiable: autograd along a random direction against central differences, in float64.
  try {
    const at::Tensor x64 = x.to(at::kDouble).detach().requires_grad_(true);
    const at::Tensor theta64 = theta.to(at::kDouble).detach().requires_grad_(true);
    const at::Tensor v = at::randn({kMembers, kStates, d}, generator, at::kDouble);
    const at::Tensor dx = at::randn({kMembers, kStates, d}, generator, at::kDouble);
    const at::Tensor dtheta = theta64.detach() * 0.1 * at::randn(theta64.sizes(), generator, at::kDouble);
    const at::Tensor projection = (loaded->Forward(0.5, x64, theta64) * v).sum();
    double autograd = 0.0;
    if (projection.requires_grad()) {
      const std::vector<at::Tensor> g = torch::autograd::grad({projection}, {x64, theta64}, {}, /*retain_graph=*/false,
                                                              /*create_graph=*/false, /*allow_unused=*/true);
      if (g[0].defined()) autograd += (g[0] * dx).sum().item<double>();
      if (g[1].defined()) autograd += (g[1] * dtheta).sum().item<double>();
    }
    const double h = 1e-6;
    const double difference = (Projection(*loaded, x64.detach(), theta64.detach(), v, dx, dtheta, h) -
                               Projection(*loaded, x64.detach(), theta64.detach(), v, dx, dtheta, -h)) /
                              (2.0 * h);
    const double scale = std::max(std::abs(difference), std::abs(autograd));
    if (!(std::abs(autograd - difference) <= 1e-4 * scale + 1e-9)) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": forward is not differentiable by autograd: along a probe direction its gradient gives ", autograd,
          ", central differences give ", difference,
          " (does it detach, call .item(), or leave torch for Python numbers?)"));
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": in float64 or under autograd, on a probe: ", Reason(e)));
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

at::Tensor TorchScriptPhysics::Evaluate(double t, const at::Tensor& x) const {
  CheckState(x);
  std::vector<at::Tensor> columns;
  for (size_t i = 0; i < specs().size(); ++i) columns.push_back(Value(i));
  const at::Tensor theta = columns.empty() ? at::zeros({members(), 0}, x.options()) : at::stack(columns, 1);
  return module_->Forward(t, x, theta);
}

}  // namespace hybrid::solvers
