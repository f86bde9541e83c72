// What loading a user's TorchScript file, checking it before it serves and
// running it have in common, for physics (torchscript_physics.h) and
// corrections (torchscript_correction.h). Every error names `field` (e.g.
// "torchscript.file 'sir.pt'") and the method.
//
// Include from .cc files only: it brings <torch/script.h>.
#pragma once

#include <torch/script.h>

#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hybrid::solvers {

// What went wrong, in one line: LibTorch errors lead with it and follow with a
// backtrace; the interpreter's lead with a traceback and end with it.
std::string ScriptErrorReason(const std::exception& e);

// The module in `file`, in eval mode. INVALID_ARGUMENT naming `field` when the
// file is missing or does not load as TorchScript.
absl::StatusOr<torch::jit::Module> LoadScriptFile(const std::string& file, const std::string& field);

// `module`'s method `name` taking `arguments` arguments besides self, which
// assigns to no attribute of the module (copies of a model run one module from
// several threads at once: it must not change itself). INVALID_ARGUMENT naming
// `field` and showing `usage` (e.g. "forward(self, x) -> g") otherwise.
absl::StatusOr<torch::jit::Method> CheckedMethod(const torch::jit::Module& module, const std::string& name,
                                                 size_t arguments, const std::string& usage, const std::string& field);

// module's method `name` on `inputs`, with the graph executor's optimisations
// off. On CPU they only add work (the profiling executor's guards; no fusion,
// Debian's LibTorch has no LLVM): off, a scripted Lorenz-63 forecasts twice as
// fast and trains as fast (tests/benchmarks/solver_benchmark.cc, the note of
// issue 19). And an optimised plan built under autograd would be shared by
// every copy of a correction and replayed in forecasts, where it tries to
// save inference tensors for a backward that never comes. Throws what the
// module throws.
c10::IValue RunMethod(torch::jit::Module& module, const std::string& name, std::vector<c10::IValue> inputs);

// What a call of a module's method must answer: a tensor of `shape` (the
// contract writes it `must_be`, e.g. "[M, B, D]") in the dtype of `x`, the
// states it was given.
struct ExpectedAnswer {
  const at::Tensor& x;
  std::vector<int64_t> shape;
  std::string must_be;
};

// RunMethod(module, name, inputs), checked against `expected`. Throws
// SolverFailure (the module's fault, FAILED_PRECONDITION for the server)
// starting with `field`: "<field>: <name> failed<when>: <reason>" when the
// module throws, "… answered shape …" or "… answered Float for Double states".
at::Tensor RunChecked(torch::jit::Module& module, const std::string& name, std::vector<c10::IValue> inputs,
                      const ExpectedAnswer& expected, const std::string& field, const std::string& when = "");

// Whether autograd agrees with central differences along one direction (float64):
// `autograd` is the directional derivative autograd gave, `shifted(h)` the
// scalar at the probe moved by h along the direction. INVALID_ARGUMENT naming
// `field` and `method` when they differ by more than 1e-4 relative.
absl::Status CheckAgainstDifferences(double autograd, const std::function<double(double)>& shifted,
                                     const std::string& field, const std::string& method);

// Σ ⟨∂scalar/∂inputs[i], directions[i]⟩ by autograd (inputs that the scalar
// does not reach count 0).
double DirectionalDerivative(const at::Tensor& scalar, const std::vector<at::Tensor>& inputs,
                             const std::vector<at::Tensor>& directions);

}  // namespace hybrid::solvers
