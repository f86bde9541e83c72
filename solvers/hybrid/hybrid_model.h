// HybridModel: a scientific model f(x; θ) composed with neural networks
// g(x; φ), for M ensemble members at once. State [M, B, D].
//
//   HybridModelSpec spec;  // physics "lorenz63", composition kAdditive, hidden {32, 32}, members 5, …
//   absl::StatusOr<std::shared_ptr<HybridModel>> model = HybridModel::Create(spec);
//   at::Tensor dxdt = (*model)->Evaluate(0.0, x);
//
// Compositions (all are vector fields, so every integrator and gradient mode
// applies; the names and sources: docs/hybrid_modelling.md):
//   kAdditive     dx/dt = f(x; θ) + g(x; φ)           (APHYNITY closure)
//   kSerial       dx/dt = u + g(u; φ), u = f(x; θ)     (physics output → network;
//                 the residual form starts at the physics and sees only u, not x)
//   kParallel     dx/dt = α f(x; θ) + (1 − α) g(x; φ), α = sigmoid(a) ∈ (0, 1)
//                 learned per member, starting at `parallel_alpha`
//   kPhysicsOnly  dx/dt = f(x; θ)                       (baseline; no network)
//   kNetworkOnly  dx/dt = g(x; φ)                       (neural-ODE baseline; θ unused)
// g is an MLP (vector states), a periodic 3×3 CNN (fields, kConv: the physics
// must report a FieldShape) or a user's TorchScript network (kTorchScript:
// solvers/torchscript/torchscript_correction.h; its layers are the module's). An optional heteroscedastic head maps a
// state to per-component log-variances, log σ²(x) [M, B, D], trained by Gaussian NLL. Dropout (MLP hidden layers) is
// active in training mode only: MC dropout samples by calling train(true) under no-grad.
//
// θ = the physics' trainable raw parameters; φ = network, α and head weights.
// Const methods are thread-safe; training needs a single owner. Clone() gives an
// independent deep copy (for the immutable snapshots that Predict reads).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "solvers/black_box/plugin_step.h"
#include "solvers/fused/fused_rk4.h"
#include "solvers/networks/member_conv.h"
#include "solvers/networks/member_mlp.h"
#include "solvers/physics/scientific_model.h"
#include "solvers/torchscript/torchscript_correction.h"
#include "solvers/torchscript/torchscript_physics.h"

namespace hybrid::solvers {

class BlackBoxPhysics;

enum class Composition { kAdditive, kSerial, kParallel, kPhysicsOnly, kNetworkOnly };
enum class NetworkKind { kMlp, kConv, kTorchScript };

// "additive" | "serial" | "parallel" | "physics_only" | "network_only".
std::string CompositionName(Composition composition);

struct HybridModelSpec {
  std::string physics = "lorenz63";  // A name in the physics catalog (solvers/physics/physics_catalog.h),
                                     // or "plugin" (a C/Fortran shared library: `plugin`),
                                     // or "torchscript" (a PyTorch module: `torchscript`).
  PhysicsOptions physics_options;    // members, dtype and seed here are those of the whole model.
  PluginDescription plugin;          // physics "plugin" only: library path, state size, parameters.
  // A black-box step already built (Clone shares its model's, so a copy never
  // reloads a plugin); null: built from `physics` and `plugin`.
  std::shared_ptr<const BlackBoxStep> black_box_step;
  // physics "torchscript" only: the module's file, components and parameters
  // (solvers/torchscript/torchscript_physics.h), and the module once loaded
  // (Clone shares it; null: loaded and checked from `torchscript`).
  TorchScriptDescription torchscript;
  std::shared_ptr<const TorchScriptModule> torchscript_module;
  Composition composition = Composition::kAdditive;
  NetworkKind network = NetworkKind::kMlp;
  // network kTorchScript only: the module's file, and the module once loaded
  // and checked (Clone shares it; null: loaded from `correction_file`).
  std::string correction_file;
  std::shared_ptr<const TorchScriptCorrectionFile> correction_module;
  // kMlp and kConv: additive with none is physics only; others that use g
  // need at least one layer. kTorchScript: empty (the module has its layers).
  std::vector<int64_t> hidden;
  double output_scale = 0.01;         // Init scale of g's last layer (a fresh hybrid starts close to its physics).
  double dropout = 0.0;               // On MLP hidden layers, in [0, 1).
  double parallel_alpha = 0.9;        // Initial α of kParallel, in (0, 1).
  std::vector<int64_t> noise_hidden;  // Heteroscedastic head's hidden sizes; empty: no head.
  // MLP networks see (x − input_center) / input_scale and their output is
  // multiplied by output_gain: standardised inputs keep tanh out of saturation
  // and the gain puts g on the scale of dx/dt. Empty vectors: no scaling.
  std::vector<double> input_center;  // D entries, or empty.
  std::vector<double> input_scale;   // D entries > 0, or empty.
  double output_gain = 1.0;          // > 0.
  // Run fixed-step RK4 in the fused ensemble kernel (solvers/fused/) when the
  // model qualifies (HybridModel::HasFusedRk4); false: always the LibTorch
  // expression path, the reference the fused path is tested against.
  bool fused = true;
  // State components the network may correct (the others' g is 0): where the
  // physics is known to be incomplete, e.g. only the response of a PK/PD model
  // whose pharmacokinetics are trusted. Keeps θ identifiable. Empty: all.
  // Not for physics-only or network-only compositions.
  std::vector<int64_t> correction_components;
};

class HybridModel : public torch::nn::Module, public VectorField {
 public:
  // INVALID_ARGUMENT naming the field for an unknown physics, bad parameter
  // names/values, members < 1, bad hidden sizes, a composition that needs a
  // network without one, kConv on a physics without a field shape, or a
  // TorchScript physics or correction that fails its load checks.
  static absl::StatusOr<std::shared_ptr<HybridModel>> Create(const HybridModelSpec& spec);

  at::Tensor Evaluate(double t, const at::Tensor& x) const override;
  // Black-box physics: x(t + h) = Ψ(x; θ, h) + h·g(x; φ), the solver's step
  // with the network's correction added (autograd sees only the g term).
  bool HasDiscreteStep() const override { return black_box_ != nullptr; }
  at::Tensor DiscreteStep(double t, const at::Tensor& x, double h) const override;
  // Fixed-step RK4 runs in the fused ensemble kernel (solvers/fused/fused_rk4.h)
  // when spec().fused and the model qualifies: physics with a pointwise kernel
  // (Lorenz-63) or none (network_only); composition additive, physics_only or
  // network_only; no network or an MLP without dropout in training mode; and
  // x is [M, B, D] of the model's dtype on the CPU. Others take the LibTorch path.
  bool HasFusedRk4(const at::Tensor& x) const override;
  at::Tensor FusedRk4Path(const at::Tensor& x, double h, int64_t steps, int64_t every) const override;
  // What the fused kernel reads: handles of this model's own tensors.
  FusedField fused_field() const;
  // The black-box physics, or null for a vector-field physics.
  const BlackBoxPhysics* black_box() const { return black_box_; }
  // The network's contribution to dx/dt as Evaluate adds it (g, (1 − α)g or
  // g(u)); zeros without a network. The APHYNITY penalty is its mean square.
  at::Tensor Correction(const at::Tensor& x) const;
  // The physics' contribution f(x; θ) alone (also for kNetworkOnly, for residual penalties).
  at::Tensor Physics(const at::Tensor& x) const { return physics_->Evaluate(0.0, x); }
  // log σ²(x), [M, B, D]; requires has_noise_head().
  at::Tensor LogVariance(const at::Tensor& x) const;
  // α per member, [M]; requires kParallel.
  at::Tensor Alpha() const;

  const ScientificModel& physics() const { return *physics_; }
  ScientificModel& physics() { return *physics_; }
  const HybridModelSpec& spec() const { return spec_; }
  Composition composition() const { return spec_.composition; }
  bool has_correction() const {
    return static_cast<bool>(mlp_) || static_cast<bool>(conv_) || static_cast<bool>(scripted_);
  }
  bool has_noise_head() const { return static_cast<bool>(noise_head_); }
  int64_t members() const { return physics_->members(); }
  int64_t state_dim() const { return physics_->state_dim(); }
  at::ScalarType dtype() const { return spec_.physics_options.dtype; }

  // Empty for kNetworkOnly: its physics takes no part in the forecast.
  std::vector<at::Tensor> ThetaParameters() const;
  std::vector<at::Tensor> PhiParameters() const;

  std::shared_ptr<HybridModel> Clone() const;
  // A deep copy of members [0, count) only: member m of the copy is member m of
  // this model (every member-batched tensor is sliced along its member blocks).
  // Members are exchangeable, so this is an ensemble of `count` for a cheaper
  // forecast. Precondition: 1 ≤ count ≤ members() (TORCH_CHECK).
  std::shared_ptr<HybridModel> FirstMembers(int64_t count) const;

 private:
  HybridModel(HybridModelSpec spec, std::shared_ptr<ScientificModel> physics);
  at::Tensor Network(const at::Tensor& x) const;

  HybridModelSpec spec_;
  std::shared_ptr<ScientificModel> physics_;
  MemberMlp mlp_{nullptr};
  MemberConv conv_{nullptr};
  ScriptedCorrection scripted_{nullptr};
  MemberMlp noise_head_{nullptr};
  at::Tensor alpha_logit_;   // [M], kParallel only.
  at::Tensor input_center_;  // [D] buffers, when set.
  at::Tensor input_scale_;
  at::Tensor correction_mask_;                  // [D] of 0/1, when correction_components is set.
  const BlackBoxPhysics* black_box_ = nullptr;  // physics_ itself, when it is a black-box step.
};

}  // namespace hybrid::solvers
