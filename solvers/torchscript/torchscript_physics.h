// TorchScript physics: a vector field a user wrote in PyTorch and saved with
// torch.jit.save, served like a catalog model — its parameters the server's
// (stored unconstrained, trained by the model's calibration method), its
// gradients exact (autograd runs through the scripted graph).
//
//   TorchScriptDescription d{"/repo/sir/physics.pt", {{"S", "1"}, {"I", "1"}, {"R", "1"}},
//                            {{"beta", "1/day", 0.3, 1e-3, 10.0, true, "contact rate"}, …}};
//   absl::StatusOr<std::shared_ptr<const TorchScriptModule>> m = LoadTorchScriptModule(d, at::kDouble);
//   absl::StatusOr<std::shared_ptr<TorchScriptPhysics>> f = TorchScriptPhysics::Create(*m, options);
//
// The module's contract (README.md, "Bring your own PyTorch model"):
//   forward(self, t: Tensor, x: Tensor, theta: Tensor) -> Tensor
//     t      0-dim, the time;
//     x      [M, B, D] states, member m in row m;
//     theta  [M, P] physical values (not log), columns in the description's order;
//     return [M, B, D] dx/dt, in x's dtype.
// D and P come from the description (components, parameters), not the module.
// With observables K > 0 the module is also the observation operator:
//   observe(self, x: Tensor, theta: Tensor) -> Tensor
//     x [M, B, D], theta [M, P] as forward's → [M, B, K] readings, in x's dtype.
//
// LoadTorchScriptModule checks, before anything serves: the file loads; it
// has `forward`, which assigns to no attribute of the module; on a probe (two states drawn around 0.5 with a fixed
// seed, θ at the defaults, M = 2) it answers the promised shape and dtype with finite values; and it is differentiable
// — the autograd gradient of a random projection of dx/dt with respect to x and θ matches a central finite difference
// (float64) to 1e-4 relative; with observables, observe passes the same checks. Every failure is INVALID_ARGUMENT
// naming the file, the method and what was wrong.
// Parameter descriptions are checked as a plugin's are (names unique, lower < upper, default inside, positive ones with
// lower > 0).
//
// Thread-safety: a loaded module is shared by every copy of the model and run
// from several threads at once (TorchScript's interpreter allows it, and a
// forward that assigns to the module's attributes is refused at load). Evaluate throws SolverFailure (the
// module's fault: FAILED_PRECONDITION through RunCatchingTorch) when the
// module throws or answers something else than [M, B, D] in x's dtype, naming
// the file (torchscript.file '…'). An error in backward through the module is LibTorch's (INTERNAL).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "solvers/black_box/black_box_step.h"
#include "solvers/physics/scientific_model.h"

namespace torch::jit {
struct Module;
}  // namespace torch::jit

namespace hybrid::solvers {

struct TorchScriptDescription {
  std::string file;                           // Path of the saved module.
  std::vector<StateComponent> components;     // D of them, in state order.
  std::vector<BlackBoxParameter> parameters;  // P of them, in theta's column order.
  int64_t observables = 0;                    // K: columns of observe; 0: the module has none to check.
};

class TorchScriptModule {
 public:
  ~TorchScriptModule();
  const TorchScriptDescription& description() const { return description_; }
  // dx/dt of the module: x [M, B, D], theta [M, P] → [M, B, D] (shape and dtype checked). Throws SolverFailure.
  at::Tensor Forward(double t, const at::Tensor& x, const at::Tensor& theta) const;
  // The readings of observe: x [M, B, D], theta [M, P] → [M, B, K] (checked). Throws SolverFailure.
  at::Tensor Observe(const at::Tensor& x, const at::Tensor& theta) const;

 private:
  friend absl::StatusOr<std::shared_ptr<const TorchScriptModule>> LoadTorchScriptModule(
      const TorchScriptDescription& description, at::ScalarType dtype);
  TorchScriptModule(TorchScriptDescription description, std::unique_ptr<torch::jit::Module> module);

  const TorchScriptDescription description_;
  const std::unique_ptr<torch::jit::Module> module_;  // Run concurrently, never changed.
};

absl::StatusOr<std::shared_ptr<const TorchScriptModule>> LoadTorchScriptModule(
    const TorchScriptDescription& description, at::ScalarType dtype);

class TorchScriptPhysics final : public ScientificModel {
 public:
  // INVALID_ARGUMENT naming the parameter for options that do not fit the
  // description (unknown names, values outside bounds); no structure keys.
  static absl::StatusOr<std::shared_ptr<TorchScriptPhysics>> Create(std::shared_ptr<const TorchScriptModule> module,
                                                                    const PhysicsOptions& options);

  int64_t state_dim() const override { return static_cast<int64_t>(module_->description().components.size()); }
  std::vector<StateComponent> Components() const override { return module_->description().components; }
  at::Tensor Evaluate(double t, const at::Tensor& x) const override;
  // The module's observables of states x [K ≤ M, B, D] (any dtype) with members
  // [0, K)'s current θ: [K, B, observables] in float64. Throws SolverFailure.
  at::Tensor Observe(const at::Tensor& x) const;
  const std::shared_ptr<const TorchScriptModule>& module() const { return module_; }

 private:
  at::Tensor Theta(int64_t members, const at::TensorOptions& options) const;  // [members, P], physical.
  TorchScriptPhysics(std::shared_ptr<const TorchScriptModule> module, std::vector<ParameterSpec> specs,
                     const PhysicsOptions& options);
  const std::shared_ptr<const TorchScriptModule> module_;
};

}  // namespace hybrid::solvers
