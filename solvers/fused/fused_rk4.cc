#include "solvers/fused/fused_rk4.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/saved_variable.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "solvers/fused/ensemble_rk4_kernel.h"

namespace hybrid::solvers {
namespace {

using torch::autograd::SavedVariable;
using torch::autograd::variable_list;

// Contiguous and starting on a 64-byte boundary, like every fresh CPU
// tensor: the kernel's results are then the same bits wherever a view came
// from (ensemble_rk4_kernel.cc, Buffer).
at::Tensor Aligned(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  return reinterpret_cast<uintptr_t>(c.data_ptr()) % 64 == 0 ? c : c.clone();
}

std::vector<at::Tensor> Aligned(const std::vector<at::Tensor>& tensors) {
  std::vector<at::Tensor> out;
  out.reserve(tensors.size());
  for (const at::Tensor& t : tensors) out.push_back(Aligned(t));
  return out;
}

// The path's outputs [M, stored, B, D] → [M, B, steps / every, D].
at::Tensor Outputs(const at::Tensor& path, int64_t stride_of_outputs) {
  return path.slice(1, stride_of_outputs, at::indexing::None, stride_of_outputs).permute({0, 2, 1, 3}).contiguous();
}

// Views of the field's tensors for the kernel; `theta` is [M, P] values.
template <typename T>
HybridFieldArrays<T> Arrays(const FusedField& f, const at::Tensor& x0, const at::Tensor& theta,
                            const std::vector<at::Tensor>& weights, const std::vector<at::Tensor>& biases) {
  HybridFieldArrays<T> a;
  a.members = x0.size(0);
  a.batch = x0.size(1);
  a.dim = x0.size(2);
  a.physics = f.physics;
  a.theta = f.physics ? theta.data_ptr<T>() : nullptr;
  if (!weights.empty()) {
    a.widths.push_back(weights.front().size(1));
    for (size_t l = 0; l < weights.size(); ++l) {
      a.widths.push_back(weights[l].size(2));
      a.weights.push_back(weights[l].data_ptr<T>());
      a.biases.push_back(biases[l].data_ptr<T>());
    }
  }
  a.center = f.center.defined() ? f.center.data_ptr<T>() : nullptr;
  a.scale = f.scale.defined() ? f.scale.data_ptr<T>() : nullptr;
  a.mask = f.mask.defined() ? f.mask.data_ptr<T>() : nullptr;
  a.gain = static_cast<T>(f.gain);
  return a;
}

void CheckPath(const char* who, const FusedField& field, const at::Tensor& x0, int64_t steps, int64_t every) {
  TORCH_CHECK(steps >= 1 && every >= 1 && steps % every == 0, who, ": steps ", steps,
              " must be a positive multiple of every = ", every);
  TORCH_CHECK(x0.dim() == 3 && x0.device().is_cpu(), who, ": x0 must be [M, B, D] on the CPU");
  TORCH_CHECK(field.physics == nullptr || field.physics->parameters() == static_cast<int64_t>(field.raw_theta.size()),
              who, ": ", field.raw_theta.size(), " parameters for a physics of ", field.physics->parameters());
}

// What the path is differentiable wrt, in the backward node's edge order.
variable_list Inputs(const FusedField& field, const at::Tensor& x0) {
  variable_list inputs = {x0};
  inputs.insert(inputs.end(), field.raw_theta.begin(), field.raw_theta.end());
  inputs.insert(inputs.end(), field.weights.begin(), field.weights.end());
  inputs.insert(inputs.end(), field.biases.begin(), field.biases.end());
  return inputs;
}

// The kernel's inputs: the start, detached and aligned, and the prepared field.
struct KernelInputs {
  KernelInputs(const PreparedFusedField& field, const at::Tensor& x0_in) : x0(Aligned(x0_in.detach())), field(field) {}
  template <typename T>
  HybridFieldArrays<T> Arrays() const {
    return solvers::Arrays<T>(field.field, x0, field.theta, field.weights, field.biases);
  }
  at::Tensor x0;
  const PreparedFusedField& field;
};

struct FusedRk4Backward : torch::autograd::Node {
  std::string name() const override { return "FusedRk4Backward"; }

  variable_list apply(variable_list&& grads) override {
    TORCH_CHECK(!at::GradMode::is_enabled(), "the fused RK4 kernel has no second derivatives (create_graph)");
    const at::Tensor path = path_.unpack(), theta = theta_.unpack(), stages = stages_.unpack();
    std::vector<at::Tensor> weights, biases;
    for (auto& w : weights_) weights.push_back(w.unpack());
    for (auto& b : biases_) biases.push_back(b.unpack());
    const int64_t m = path.size(0), b = path.size(2), d = path.size(3);
    variable_list result(next_edges().size());
    if (!grads[0].defined()) return result;
    at::Tensor grad_path = at::zeros_like(path);
    const int64_t ratio = every_ / stride_;
    grad_path.slice(1, ratio, at::indexing::None, ratio).copy_(grads[0].permute({0, 2, 1, 3}));
    at::Tensor grad_x0 = at::empty({m, b, d}, path.options());
    at::Tensor grad_theta = theta.defined() ? at::zeros_like(theta) : at::Tensor();
    bool want_layers = false;
    for (size_t i = 1 + field_.raw_theta.size(); i < next_edges().size(); ++i) {
      want_layers = want_layers || task_should_compute_output(i);
    }
    std::vector<at::Tensor> grad_weights, grad_biases;
    if (want_layers) {
      for (const at::Tensor& w : weights) grad_weights.push_back(at::zeros_like(w));
      for (const at::Tensor& bias : biases) grad_biases.push_back(at::zeros_like(bias));
    }
    AT_DISPATCH_FLOATING_TYPES(path.scalar_type(), "fused_rk4_backward", [&] {
      const HybridFieldArrays<scalar_t> arrays = Arrays<scalar_t>(field_, grad_x0, theta, weights, biases);
      HybridFieldGradients<scalar_t> g;
      g.theta = grad_theta.defined() ? grad_theta.data_ptr<scalar_t>() : nullptr;
      for (auto& t : grad_weights) g.weights.push_back(t.data_ptr<scalar_t>());
      for (auto& t : grad_biases) g.biases.push_back(t.data_ptr<scalar_t>());
      Rk4Backward<scalar_t>(arrays, path.data_ptr<scalar_t>(), static_cast<scalar_t>(h_), steps_, stride_,
                            grad_path.data_ptr<scalar_t>(), grad_x0.data_ptr<scalar_t>(), g,
                            stages.defined() ? stages.data_ptr<scalar_t>() : nullptr);
    });
    size_t next = 0;
    result[next++] = grad_x0;
    for (size_t i = 0; i < field_.raw_theta.size(); ++i, ++next) {
      const at::Tensor column = grad_theta.select(1, static_cast<int64_t>(i));
      const at::Tensor raw_grad = field_.positive[i] ? column * theta.select(1, static_cast<int64_t>(i)) : column;
      result[next] = raw_grad.to(field_.raw_theta[i].scalar_type());
    }
    for (size_t l = 0; l < grad_weights.size(); ++l) result[next + l] = grad_weights[l];
    for (size_t l = 0; l < grad_biases.size(); ++l) result[next + grad_weights.size() + l] = grad_biases[l];
    return result;
  }

  void release_variables() override {
    path_.reset_data();
    theta_.reset_data();
    stages_.reset_data();
    for (auto& w : weights_) w.reset_data();
    for (auto& b : biases_) b.reset_data();
  }

  FusedField field_;                     // Its tensors' handles are read only for shapes and flags.
  SavedVariable path_, theta_, stages_;  // stages_ undefined: backward recomputes them.
  std::vector<SavedVariable> weights_, biases_;
  double h_ = 0.0;
  int64_t steps_ = 0, every_ = 1, stride_ = 1;
};

}  // namespace

at::Tensor FusedRk4Path(const FusedField& field, const at::Tensor& x0_in, double h, int64_t steps, int64_t every,
                        int64_t max_stored_values) {
  CheckPath("FusedRk4Path", field, x0_in, steps, every);
  const variable_list inputs = Inputs(field, x0_in);
  const bool record = at::GradMode::is_enabled() && torch::autograd::compute_requires_grad(at::TensorList(inputs));
  const PreparedFusedField prepared(field, x0_in.scalar_type());
  const KernelInputs k(prepared, x0_in);
  const int64_t m = k.x0.size(0), b = k.x0.size(1), d = k.x0.size(2);
  // Under autograd, as much as the budget allows: every step and its stages
  // (backward then evaluates nothing), every step, or only the outputs.
  const bool store_every_step = record && (steps + 1) * m * b * d <= max_stored_values;
  const int64_t stride = store_every_step ? 1 : every;
  at::Tensor path = at::empty({m, steps / stride + 1, b, d}, k.x0.options());
  at::Tensor stages;
  AT_DISPATCH_FLOATING_TYPES(k.x0.scalar_type(), "fused_rk4_forward", [&] {
    const HybridFieldArrays<scalar_t> arrays = k.Arrays<scalar_t>();
    const int64_t record_size = StageRecordSize(arrays, steps);
    if (store_every_step && path.numel() + record_size <= max_stored_values) {
      stages = at::empty({record_size}, k.x0.options());
    }
    Rk4Forward<scalar_t>(arrays, k.x0.data_ptr<scalar_t>(), static_cast<scalar_t>(h), steps, stride,
                         path.data_ptr<scalar_t>(), stages.defined() ? stages.data_ptr<scalar_t>() : nullptr);
  });
  at::Tensor out = Outputs(path, every / stride);
  if (!record) return out;

  auto node = std::shared_ptr<FusedRk4Backward>(new FusedRk4Backward(), torch::autograd::deleteNode);
  node->set_next_edges(torch::autograd::collect_next_edges(at::TensorList(inputs)));
  node->field_ = field;
  node->path_ = SavedVariable(path, /*is_output=*/false);
  node->theta_ = SavedVariable(prepared.theta, /*is_output=*/false);
  node->stages_ = SavedVariable(stages, /*is_output=*/false);
  for (const at::Tensor& w : prepared.weights) node->weights_.emplace_back(w, /*is_output=*/false);
  for (const at::Tensor& bias : prepared.biases) node->biases_.emplace_back(bias, /*is_output=*/false);
  node->h_ = h;
  node->steps_ = steps;
  node->every_ = every;
  node->stride_ = stride;
  torch::autograd::set_history(out, node);
  return out;
}

PreparedFusedField::PreparedFusedField(const FusedField& f, at::ScalarType dtype) : field(f) {
  at::NoGradGuard no_grad;
  if (f.physics != nullptr) {
    std::vector<at::Tensor> columns;
    for (size_t i = 0; i < f.raw_theta.size(); ++i)
      columns.push_back(f.positive[i] ? f.raw_theta[i].exp() : f.raw_theta[i]);
    theta = at::stack(columns, 1).to(dtype).contiguous();
  }
  weights = Aligned(f.weights);
  biases = Aligned(f.biases);
}

at::Tensor FusedForcedRk4Path(const PreparedFusedField& field, const at::Tensor& x0_in, double h, int64_t steps,
                              int64_t every, const FusedForcing& forcing) {
  CheckPath("FusedForcedRk4Path", field.field, x0_in, steps, every);
  TORCH_CHECK(!at::GradMode::is_enabled() ||
                  !torch::autograd::compute_requires_grad(at::TensorList(Inputs(field.field, x0_in))),
              "FusedForcedRk4Path: the forced path is not differentiable");
  const int64_t b = x0_in.size(1), d = x0_in.size(2);
  TORCH_CHECK(static_cast<int64_t>(forcing.rows.size()) == b, "FusedForcedRk4Path: ", forcing.rows.size(),
              " noise rows for a batch of ", b);
  for (const at::Tensor* t : {&forcing.scale, &forcing.floor}) {
    TORCH_CHECK(!t->defined() || (t->numel() == d && t->is_contiguous() && t->scalar_type() == x0_in.scalar_type()),
                "FusedForcedRk4Path: the forcing's scale and floor must be [D], contiguous, of x0's dtype");
  }
  TORCH_CHECK(forcing.scale.defined(), "FusedForcedRk4Path: no forcing scale");
  const at::Tensor& typed = field.theta.defined() ? field.theta : field.weights.empty() ? x0_in : field.weights.front();
  TORCH_CHECK(typed.scalar_type() == x0_in.scalar_type(), "FusedForcedRk4Path: the field was prepared in ",
              typed.scalar_type(), ", x0 is ", x0_in.scalar_type());
  const KernelInputs k(field, x0_in);
  at::Tensor path = at::empty({k.x0.size(0), steps / every + 1, b, d}, k.x0.options());
  AT_DISPATCH_FLOATING_TYPES(k.x0.scalar_type(), "fused_forced_rk4", [&] {
    StepForcing<scalar_t> step_forcing;
    step_forcing.scale = forcing.scale.data_ptr<scalar_t>();
    step_forcing.floor = forcing.floor.defined() ? forcing.floor.data_ptr<scalar_t>() : nullptr;
    step_forcing.noise = StepNoise{forcing.seed, forcing.rows.data(), b, d};
    step_forcing.first_step = forcing.first_step;
    Rk4Forward<scalar_t>(k.Arrays<scalar_t>(), k.x0.data_ptr<scalar_t>(), static_cast<scalar_t>(h), steps, every,
                         path.data_ptr<scalar_t>(), nullptr, &step_forcing);
  });
  return Outputs(path, 1);
}

}  // namespace hybrid::solvers
