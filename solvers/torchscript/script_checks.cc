#include "solvers/torchscript/script_checks.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "solvers/torch_status.h"

namespace hybrid::solvers {
namespace {

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

}  // namespace

std::string ScriptErrorReason(const std::exception& e) {
  const auto* torch_error = dynamic_cast<const c10::Error*>(&e);
  std::string text = torch_error ? torch_error->what_without_backtrace() : e.what();
  if (absl::StartsWith(text, "The following operation failed in the TorchScript interpreter")) {
    text = std::string(absl::StripTrailingAsciiWhitespace(text));
    return text.substr(text.rfind('\n') + 1);
  }
  return text.substr(0, text.find('\n'));
}

absl::StatusOr<torch::jit::Module> LoadScriptFile(const std::string& file, const std::string& field) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(file, error)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": no such file"));
  }
  torch::jit::Module module;
  try {
    module = torch::jit::load(file);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(field, " does not load as TorchScript: ", ScriptErrorReason(e)));
  }
  module.eval();
  return module;
}

absl::StatusOr<torch::jit::Method> CheckedMethod(const torch::jit::Module& module, const std::string& name,
                                                 size_t arguments, const std::string& usage, const std::string& field) {
  const c10::optional<torch::jit::Method> method = module.find_method(name);
  if (!method) return absl::InvalidArgumentError(absl::StrCat(field, " has no method '", name, "' (", usage, ")"));
  if (const c10::FunctionSchema& schema = method->function().getSchema(); schema.arguments().size() != arguments + 1) {
    std::ostringstream text;
    text << schema;
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", name, " must be ", usage, ", its schema is ", text.str()));
  }
  if (WritesItsAttributes(*method)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", name,
                     " assigns to attributes of the module (self.… = …); a module served to concurrent "
                     "forecasts must not change itself"));
  }
  return *method;
}

c10::IValue RunMethod(torch::jit::Module& module, const std::string& name, std::vector<c10::IValue> inputs) {
  torch::jit::Method method = module.get_method(name);
  torch::jit::GraphOptimizerEnabledGuard unoptimized(false);
  return method(std::move(inputs));
}

at::Tensor RunChecked(torch::jit::Module& module, const std::string& name, std::vector<c10::IValue> inputs,
                      const ExpectedAnswer& expected, const std::string& field, const std::string& when) {
  const std::string method = absl::StrCat(field, ": ", name, " ");
  c10::IValue answer;
  try {
    answer = RunMethod(module, name, std::move(inputs));
  } catch (const std::exception& e) {
    throw SolverFailure(absl::StrCat(method, "failed", when, ": ", ScriptErrorReason(e)));
  }
  if (!answer.isTensor()) throw SolverFailure(absl::StrCat(method, "answered a ", answer.tagKind(), ", not a Tensor"));
  at::Tensor out = answer.toTensor();
  if (out.sizes() != at::IntArrayRef(expected.shape)) {
    throw SolverFailure(absl::StrCat(method, "answered shape ", c10::str(out.sizes()), " for states of shape ",
                                     c10::str(expected.x.sizes()), " (it must be ", expected.must_be, ")"));
  }
  if (out.scalar_type() != expected.x.scalar_type()) {
    throw SolverFailure(absl::StrCat(method, "answered ", c10::toString(out.scalar_type()), " for ",
                                     c10::toString(expected.x.scalar_type()), " states"));
  }
  return out;
}

double DirectionalDerivative(const at::Tensor& scalar, const std::vector<at::Tensor>& inputs,
                             const std::vector<at::Tensor>& directions) {
  if (!scalar.requires_grad()) return 0.0;
  const std::vector<at::Tensor> g = torch::autograd::grad({scalar}, inputs, {}, /*retain_graph=*/false,
                                                          /*create_graph=*/false, /*allow_unused=*/true);
  double derivative = 0.0;
  for (size_t i = 0; i < g.size(); ++i) {
    if (g[i].defined()) derivative += (g[i] * directions[i]).sum().item<double>();
  }
  return derivative;
}

absl::Status CheckAgainstDifferences(double autograd, const std::function<double(double)>& shifted,
                                     const std::string& field, const std::string& method) {
  const double h = 1e-6;
  const double difference = (shifted(h) - shifted(-h)) / (2.0 * h);
  const double scale = std::max(std::abs(difference), std::abs(autograd));
  if (std::abs(autograd - difference) <= 1e-4 * scale + 1e-9) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": ", method, " is not differentiable by autograd: along a probe direction its gradient gives ", autograd,
      ", central differences give ", difference,
      " (does it detach, call .item(), or leave torch for Python numbers?)"));
}

}  // namespace hybrid::solvers
