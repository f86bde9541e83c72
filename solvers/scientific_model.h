// ScientificModel: a physics vector field with named, positive physical
// parameters that autograd can train, batched over ensemble members.
//
// Parameters are stored unconstrained as log(value), one entry per member
// (tensor [M]), so that any gradient step keeps them positive; after a step the
// owner calls ClampToBounds() to keep them inside [lower, upper].
//
// States are [M, B, D]: member m is evaluated with its own parameters. Evaluate
// is const and safe to call from several threads; training (backward, optimizer
// steps) needs a single owner.
#pragma once

#include <torch/nn/module.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "solvers/vector_field.h"

namespace hybrid::solvers {

struct ParameterSpec {
  std::string name;
  std::string unit;
  double default_value;
  double lower;  // > 0: parameters are positive.
  double upper;
  std::string description;
};

struct PhysicsOptions {
  int64_t members = 1;                    // M ≥ 1.
  std::map<std::string, double> initial;  // Overrides of defaults, by name.
  std::set<std::string> trainable;        // Names of parameters to train.
  double member_jitter = 0.0;             // Log-normal relative spread of trainable θ across members.
  uint64_t seed = 0;
  at::ScalarType dtype = at::kDouble;
};

class ScientificModel : public torch::nn::Module, public VectorField {
 public:
  const std::vector<ParameterSpec>& specs() const { return specs_; }
  int64_t members() const { return members_; }
  virtual int64_t state_dim() const = 0;

  // Physical value of parameter `index`, shape [M].
  at::Tensor Value(size_t index) const;
  bool IsTrainable(size_t index) const { return raw_[index].requires_grad(); }
  std::vector<at::Tensor> TrainableRaw() const;
  void ClampToBounds();

 protected:
  // Validates `options` against `specs`: unknown names, values outside bounds
  // and M < 1 are INVALID_ARGUMENT naming the parameter.
  static absl::Status Validate(const std::vector<ParameterSpec>& specs, const PhysicsOptions& options);
  // Precondition: Validate(specs, options) is OK.
  ScientificModel(std::vector<ParameterSpec> specs, const PhysicsOptions& options);

  // Value(index) shaped [M, 1] to broadcast over a [M, B] slice of the state.
  at::Tensor MemberColumn(size_t index) const { return Value(index).unsqueeze(1); }

 private:
  std::vector<ParameterSpec> specs_;
  int64_t members_;
  std::vector<at::Tensor> raw_;  // log(value), [M] each.
};

}  // namespace hybrid::solvers
