#include "solvers/torchscript/torchscript_correction.h"

#include <c10/core/InferenceMode.h>

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "solvers/torchscript/script_checks.h"

namespace hybrid::solvers {
namespace {

std::string FileField(const std::string& file) { return absl::StrCat("correction.torchscript_file '", file, "'"); }

// A copy's parameter `name` ("conv1.weight") as a torch::nn parameter name (no dots).
std::string ParameterName(const std::string& name) { return absl::StrReplaceAll(name, {{".", "_"}}); }

std::vector<at::Tensor> Parameters(const torch::jit::Module& module) {
  std::vector<at::Tensor> parameters;
  for (const at::Tensor& p : module.parameters(/*recurse=*/true)) parameters.push_back(p);
  return parameters;
}

// forward(x) of one member's copy, checked: [B, D] in x's dtype.
at::Tensor RunCopy(torch::jit::Module& copy, const std::string& file, const at::Tensor& x) {
  return RunChecked(copy, "forward", {x}, {x, x.sizes().vec(), "[B, D]"}, FileField(file));
}

// Σ v·g(x + h·dx; φ + h·dφ) on a float64 copy, for the differentiability probe.
double Projection(torch::jit::Module& copy, const std::string& file, const at::Tensor& x, const at::Tensor& v,
                  const at::Tensor& dx, const std::vector<at::Tensor>& dphi, double h) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> phi = Parameters(copy);
  std::vector<at::Tensor> saved;
  for (size_t i = 0; i < phi.size(); ++i) {
    saved.push_back(phi[i].clone());
    phi[i].add_(h * dphi[i]);
  }
  const double value = (RunCopy(copy, file, x + h * dx) * v).sum().item<double>();
  for (size_t i = 0; i < phi.size(); ++i) phi[i].copy_(saved[i]);
  return value;
}

}  // namespace

TorchScriptCorrectionFile::TorchScriptCorrectionFile(std::string file, int64_t state_dim,
                                                     std::set<std::string> trainable,
                                                     std::unique_ptr<torch::jit::Module> module)
    : file_(std::move(file)), state_dim_(state_dim), trainable_(std::move(trainable)), module_(std::move(module)) {}

TorchScriptCorrectionFile::~TorchScriptCorrectionFile() = default;

torch::jit::Module TorchScriptCorrectionFile::Copy(at::ScalarType dtype) const {
  // deepcopy, not clone: clone registers a new class in the module's compilation unit, which has no lock and
  // never forgets one.
  // Outside inference mode (a forecast may build a model's copy): inference tensors could never be trained.
  c10::InferenceMode not_inference(false);
  torch::jit::Module copy = module_->deepcopy();
  copy.to(dtype);
  copy.eval();
  return copy;
}

absl::StatusOr<std::shared_ptr<const TorchScriptCorrectionFile>> LoadTorchScriptCorrection(const std::string& file,
                                                                                           int64_t state_dim,
                                                                                           at::ScalarType dtype) {
  const std::string field = FileField(file);
  absl::StatusOr<torch::jit::Module> module = LoadScriptFile(file, field);
  if (!module.ok()) return module.status();
  if (absl::StatusOr<torch::jit::Method> forward =
          CheckedMethod(*module, "forward", 1, "forward(self, x) -> the correction to dx/dt", field);
      !forward.ok()) {
    return forward.status();
  }
  // Which weights were saved trainable; then all are detached, since copies of weights that require grad
  // would not be leaves, and only leaves are trained.
  std::set<std::string> trainable;
  for (const auto& p : module->named_parameters(/*recurse=*/true)) {
    if (p.value.requires_grad()) trainable.insert(p.name);
  }
  for (torch::jit::Module sub : module->modules()) {
    for (const auto& p : sub.named_parameters(/*recurse=*/false)) sub.setattr(p.name, p.value.detach());
  }
  std::set<std::string> names;
  for (const auto& p : module->named_parameters(/*recurse=*/true)) {
    if (!names.insert(ParameterName(p.name)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": parameter '", p.name, "' clashes with another once '.' is written '_'"));
    }
  }
  if (trainable.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " has no parameters to train (register its weights as torch.nn.Parameter, requires_grad=True)"));
  }
  std::shared_ptr<const TorchScriptCorrectionFile> loaded(new TorchScriptCorrectionFile(
      file, state_dim, std::move(trainable), std::make_unique<torch::jit::Module>(*std::move(module))));

  // A probe: finite values of the promised shape and dtype.
  constexpr int64_t kStates = 2;
  at::Generator generator = at::detail::createCPUGenerator(/*seed_in=*/20261202);
  const at::Tensor x64 = 0.5 + 0.1 * at::randn({kStates, state_dim}, generator, at::kDouble);
  try {
    torch::jit::Module copy = loaded->Copy(dtype);
    at::NoGradGuard no_grad;
    if (!at::isfinite(RunCopy(copy, file, x64.to(dtype))).all().item<bool>()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": forward answers non-finite values on a probe (x ≈ 0.5, the file's weights)"));
    }
  } catch (const std::exception& e) {  // A SolverFailure naming the file, or the conversion to the dtype.
    return absl::InvalidArgumentError(absl::StrCat(e.what(), " (on a probe: x ≈ 0.5, the file's weights)"));
  }

  // Differentiable in x and φ: autograd along a random direction against central differences, in float64.
  try {
    torch::jit::Module copy = loaded->Copy(at::kDouble);
    std::vector<at::Tensor> inputs = Parameters(copy);
    for (at::Tensor& p : inputs) p.requires_grad_(true);
    const at::Tensor x = x64.detach().requires_grad_(true);
    const at::Tensor v = at::randn({kStates, state_dim}, generator, at::kDouble);
    std::vector<at::Tensor> directions;
    for (const at::Tensor& p : inputs) directions.push_back(at::randn(p.sizes(), generator, at::kDouble) * 0.1);
    const at::Tensor dx = at::randn({kStates, state_dim}, generator, at::kDouble);
    std::vector<at::Tensor> dphi = directions;
    inputs.push_back(x);
    directions.push_back(dx);
    const double autograd = DirectionalDerivative((RunCopy(copy, file, x) * v).sum(), inputs, directions);
    auto shifted = [&](double h) { return Projection(copy, file, x.detach(), v, dx, dphi, h); };
    if (absl::Status s = CheckAgainstDifferences(autograd, shifted, field, "forward"); !s.ok()) return s;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": in float64 or under autograd, on a probe: ", ScriptErrorReason(e)));
  }
  return loaded;
}

ScriptedCorrectionImpl::ScriptedCorrectionImpl(std::shared_ptr<const TorchScriptCorrectionFile> source, int64_t members,
                                               at::ScalarType dtype)
    : source_(std::move(source)) {
  for (int64_t m = 0; m < members; ++m) {
    copies_.push_back(std::make_unique<torch::jit::Module>(source_->Copy(dtype)));
    for (const auto& p : copies_.back()->named_parameters(/*recurse=*/true)) {
      // The same tensor as the copy's slot: training and checkpoints reach the copy through it.
      register_parameter(absl::StrCat("m", m, "_", ParameterName(p.name)), p.value, source_->Trainable(p.name));
    }
  }
}

ScriptedCorrectionImpl::~ScriptedCorrectionImpl() = default;

at::Tensor ScriptedCorrectionImpl::Forward(const at::Tensor& x) const {
  TORCH_CHECK(x.dim() == 3 && x.size(0) == static_cast<int64_t>(copies_.size()) && x.size(2) == source_->state_dim(),
              "ScriptedCorrection: x must be [", copies_.size(), ", B, ", source_->state_dim(), "], got ", x.sizes());
  std::vector<at::Tensor> rows;
  for (size_t m = 0; m < copies_.size(); ++m) rows.push_back(RunCopy(*copies_[m], source_->file(), x[m]));
  return at::stack(rows, 0);
}

}  // namespace hybrid::solvers
