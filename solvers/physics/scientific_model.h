// ScientificModel: a physics vector field with named, positive physical
// parameters that autograd can train, batched over ensemble members.
//
// Positive parameters are stored unconstrained as log(value), one entry per
// member (tensor [M]), so that any gradient step keeps them positive; others
// (those that may be zero or negative, such as a damping that can vanish) are
// stored as they are. After a step the owner calls ClampToBounds() to keep
// every parameter inside [lower, upper].
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
#include "solvers/integrate/vector_field.h"
#include "solvers/physics/pointwise_physics.h"

namespace hybrid::solvers {

struct ParameterSpec {
  std::string name;
  std::string unit;
  double default_value;
  double lower;  // > 0 when positive.
  double upper;
  std::string description;
  bool positive = true;  // Stored as log(value); otherwise as the value itself.
};

// A state component's name and unit, for answers, columns and plots;
// whether it is an amount or a density that cannot go below 0: forecast
// samples and entity analyses of it are kept ≥ 0 (ClampNonNegative); and,
// for a field, the grid cell it lies on (ScientificModel::Grid), which
// localised ensemble analyses measure distances between.
struct StateComponent {
  StateComponent() = default;
  StateComponent(std::string name_, std::string unit_, bool non_negative_ = false, std::vector<int64_t> cell_ = {})
      : name(std::move(name_)), unit(std::move(unit_)), non_negative(non_negative_), cell(std::move(cell_)) {}
  std::string name;
  std::string unit;  // "1": dimensionless.
  bool non_negative = false;
  std::vector<int64_t> cell;  // Its index along each axis of the grid; empty: not on it.
};

// The grid a field's components lie on: cells per axis, and whether each axis
// wraps around (distances then go the shorter way). Empty extent: the state
// is not a field.
struct StateGrid {
  std::vector<int64_t> extent;
  bool periodic = false;
};

// Components of a field on a grid, one channel: "u[i]" (1-D) or "u[r,c]"
// (2-D, row-major), all with `unit`, each on its cell.
std::vector<StateComponent> GridComponents(const std::string& channel, const std::string& unit, int64_t rows,
                                           int64_t cols = 0, bool non_negative = false);

// x [..., D] with the components that `components` marks non_negative raised
// to at least 0 (a sample of an amount drawn or analysed below it); x itself
// when none is. Not differentiable at the bound; for samples and analyses.
at::Tensor ClampNonNegative(const std::vector<StateComponent>& components, const at::Tensor& x);
// The same in two halves, for a loop that clamps every step: the floor [D]
// (0 for non-negative components, −∞ for the others; undefined when none is
// marked) in `options`, once; then x raised to it (x itself for an undefined floor).
at::Tensor NonNegativeFloor(const std::vector<StateComponent>& components, const at::TensorOptions& options);
at::Tensor RaiseToFloor(const at::Tensor& x, const at::Tensor& floor);

struct PhysicsOptions {
  int64_t members = 1;                    // M ≥ 1.
  std::map<std::string, double> initial;  // Overrides of defaults, by name.
  std::set<std::string> trainable;        // Names of parameters to train.
  double member_jitter = 0.0;             // Relative spread of trainable θ across members (log-normal if positive).
  uint64_t seed = 0;
  at::ScalarType dtype = at::kDouble;
  std::map<std::string, double> structure;  // Model-specific sizes (grid points, …); see each model.
};

class ScientificModel : public torch::nn::Module, public VectorField {
 public:
  const std::vector<ParameterSpec>& specs() const { return specs_; }
  int64_t members() const { return members_; }
  virtual int64_t state_dim() const = 0;
  // {channels, height, width} when the state is a flattened field (channel-major,
  // row-major), for convolutional corrections; empty for vector states.
  virtual std::vector<int64_t> FieldShape() const { return {}; }
  // The state_dim() components in state order. Default: "x0", "x1", …,
  // dimensionless; catalog models name theirs.
  virtual std::vector<StateComponent> Components() const;
  // The grid the components' cells are on (fields only; see StateGrid).
  virtual StateGrid Grid() const { return {}; }

  // The same field over raw arrays for the fused kernels (pointwise_physics.h),
  // which then read the parameters' physical values; null: none (the default).
  virtual const PointwisePhysics* pointwise() const { return nullptr; }

  // Physical value of parameter `index`, shape [M].
  at::Tensor Value(size_t index) const;
  bool IsTrainable(size_t index) const { return raw_[index].requires_grad(); }
  // The stored tensor of parameter `index` [M]: log(value) if positive, else value.
  const at::Tensor& Raw(size_t index) const { return raw_[index]; }
  std::vector<at::Tensor> TrainableRaw() const;
  void ClampToBounds();

  // What every model's Create does with its options, once: the parameters
  // checked against `specs` (Validate), the structure keys against `known`,
  // then each structure value read; the first problem is kept and later reads
  // give their fallback.
  //
  //   OptionsReader read(Specs(), options, {"n"});
  //   const int64_t n = read.Int("n", 40, 4, 100000);
  //   if (!read.status().ok()) return read.status();
  class OptionsReader {
   public:
    OptionsReader(const std::vector<ParameterSpec>& specs, const PhysicsOptions& options,
                  const std::vector<std::string>& known);
    int64_t Int(const std::string& key, int64_t fallback, int64_t lowest, int64_t highest);
    double Real(const std::string& key, double fallback, double lowest, double highest);
    const absl::Status& status() const { return status_; }

   private:
    const PhysicsOptions& options_;
    absl::Status status_;
  };

 protected:
  // Validates `options` against `specs`: unknown names, values outside bounds
  // and M < 1 are INVALID_ARGUMENT naming the parameter.
  static absl::Status Validate(const std::vector<ParameterSpec>& specs, const PhysicsOptions& options);
  // Precondition: Validate(specs, options) is OK.
  ScientificModel(std::vector<ParameterSpec> specs, const PhysicsOptions& options);

  // Value(index) shaped [M, 1, …, 1] (`rank` dimensions) to broadcast against
  // a state slice of that rank whose first dimension is the member.
  at::Tensor MemberValue(size_t index, int64_t rank) const;
  // Shape check for Evaluate: TORCH_CHECKs that x is [M, B, state_dim()].
  void CheckState(const at::Tensor& x) const;

  // Reads structure[key] (default when absent) as an integer in [lowest, highest];
  // INVALID_ARGUMENT naming `structure.<key>` otherwise.
  static absl::StatusOr<int64_t> StructureInt(const PhysicsOptions& options, const std::string& key, int64_t fallback,
                                              int64_t lowest, int64_t highest);
  static absl::StatusOr<double> StructureReal(const PhysicsOptions& options, const std::string& key, double fallback,
                                              double lowest, double highest);
  // INVALID_ARGUMENT for structure keys outside `known`.
  static absl::Status CheckStructureKeys(const PhysicsOptions& options, const std::vector<std::string>& known);

 private:
  std::vector<ParameterSpec> specs_;
  int64_t members_;
  std::vector<at::Tensor> raw_;  // log(value) if positive, else value; [M] each.
};

}  // namespace hybrid::solvers
