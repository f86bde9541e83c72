// AdditiveHybrid: the additive closure dx/dt = f(x; θ) + g(x; φ) (APHYNITY,
// Yin et al. 2021) of a scientific model f and an optional neural correction g,
// for M ensemble members at once. State [M, B, D].
//
//   HybridModelSpec spec;  // physics "lorenz63", hidden {32, 32}, members 5, …
//   absl::StatusOr<std::shared_ptr<AdditiveHybrid>> model = AdditiveHybrid::Create(spec);
//   at::Tensor dxdt = (*model)->Evaluate(0.0, x);
//
// θ = the physics' trainable raw parameters, φ = the network weights; the
// calibrator gives them separate learning rates. Const methods are thread-safe;
// training needs a single owner. Clone() gives an independent deep copy (for the
// immutable snapshots that Predict reads).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "solvers/member_mlp.h"
#include "solvers/scientific_model.h"

namespace hybrid::solvers {

struct HybridModelSpec {
  std::string physics = "lorenz63";  // lorenz63 | lorenz96 | damped_pendulum | fitzhugh_nagumo | fisher_kpp |
                                     // pkpd_two_compartment | kuramoto_sivashinsky | disease_progression
  PhysicsOptions physics_options;    // members, dtype and seed here are those of the whole model.
  std::vector<int64_t> hidden;       // Empty: physics only, no correction.
  double output_scale = 0.01;
};

class AdditiveHybrid : public torch::nn::Module, public VectorField {
 public:
  // INVALID_ARGUMENT naming the field for an unknown physics, bad parameter
  // names/values, members < 1 or non-positive hidden sizes.
  static absl::StatusOr<std::shared_ptr<AdditiveHybrid>> Create(const HybridModelSpec& spec);

  at::Tensor Evaluate(double t, const at::Tensor& x) const override;
  // g(x; φ), zeros when there is no correction.
  at::Tensor Correction(const at::Tensor& x) const;

  const ScientificModel& physics() const { return *physics_; }
  ScientificModel& physics() { return *physics_; }
  bool has_correction() const { return !correction_.is_empty(); }
  int64_t members() const { return physics_->members(); }
  int64_t state_dim() const { return physics_->state_dim(); }
  at::ScalarType dtype() const { return spec_.physics_options.dtype; }

  std::vector<at::Tensor> ThetaParameters() const { return physics_->TrainableRaw(); }
  std::vector<at::Tensor> PhiParameters() const;

  std::shared_ptr<AdditiveHybrid> Clone() const;

 private:
  AdditiveHybrid(HybridModelSpec spec, std::shared_ptr<ScientificModel> physics);

  HybridModelSpec spec_;
  std::shared_ptr<ScientificModel> physics_;
  MemberMlp correction_{nullptr};
};

}  // namespace hybrid::solvers
