// MemberMlp: M independent tanh MLPs (one per ensemble member) evaluated as one
// batched matrix product, the neural correction g(x; φ) of a hybrid model.
//
//   MemberMlpOptions o;
//   o.input = 3;
//   o.hidden = {32, 32};
//   o.output = 3;
//   o.members = 5;
//   MemberMlp g(o);
//   at::Tensor y = g->Forward(x);  // x [M, B, 3] → y [M, B, 3]
//
// Layer k of member m: h ← tanh(h · W_k[m] + b_k[m]) (no tanh on the last).
// Initialisation: U(±1/√fan_in) per member from `seed`; the last layer is scaled
// by `output_scale` so that a fresh hybrid starts close to its physics.
// Dropout (probability `dropout`) acts on hidden activations while the module
// is in training mode (torch::nn::Module::train), which is also how MC dropout
// samples.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

namespace hybrid::solvers {

struct MemberMlpOptions {
  int64_t input = 0;
  std::vector<int64_t> hidden;
  int64_t output = 0;
  int64_t members = 1;
  double output_scale = 0.01;
  double dropout = 0.0;  // On hidden activations, in training mode only.
  uint64_t seed = 0;
  at::ScalarType dtype = at::kDouble;
};

class MemberMlpImpl : public torch::nn::Module {
 public:
  explicit MemberMlpImpl(const MemberMlpOptions& options);
  at::Tensor Forward(const at::Tensor& x) const;
  const MemberMlpOptions& options() const { return options_; }
  // The layers' parameters, first to last (for the fused kernels).
  const std::vector<at::Tensor>& weights() const { return weights_; }
  const std::vector<at::Tensor>& biases() const { return biases_; }

 private:
  MemberMlpOptions options_;
  std::vector<at::Tensor> weights_;  // [M, fan_in, fan_out]
  std::vector<at::Tensor> biases_;   // [M, 1, fan_out]
};
TORCH_MODULE(MemberMlp);

}  // namespace hybrid::solvers
