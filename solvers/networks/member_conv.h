// MemberConv: M independent periodic CNNs (one per ensemble member) evaluated
// as one grouped convolution: the neural correction g(u; φ) of a field model
// (APHYNITY's convolutional closure for reaction–diffusion).
//
//   MemberConvOptions o;
//   o.field_shape = {2, 32, 32};
//   o.hidden = {16, 16};
//   o.members = 5;
//   MemberConv g(o);
//   at::Tensor y = g->Forward(x);  // x [M, B, 2·32·32] → y [M, B, 2·32·32]
//
// The state is a flattened field [C, H, W] (channel-major, row-major). Layers
// are 3×3 convolutions with circular padding (the grid is periodic), tanh
// between them and none after the last, C → hidden… → C channels. Members
// share nothing: the weights of member m are the m-th group of each conv.
// Initialisation: U(±1/√fan_in) per member from `seed`; the last layer is scaled
// by `output_scale`.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

namespace hybrid::solvers {

struct MemberConvOptions {
  std::vector<int64_t> field_shape;  // {C, H, W}.
  std::vector<int64_t> hidden;       // Channels of the hidden layers.
  int64_t members = 1;
  double output_scale = 0.01;
  uint64_t seed = 0;
  at::ScalarType dtype = at::kDouble;
};

class MemberConvImpl : public torch::nn::Module {
 public:
  explicit MemberConvImpl(const MemberConvOptions& options);
  at::Tensor Forward(const at::Tensor& x) const;

 private:
  MemberConvOptions options_;
  std::vector<at::Tensor> weights_;  // [M·out, in, 3, 3]
  std::vector<at::Tensor> biases_;   // [M·out]
};
TORCH_MODULE(MemberConv);

}  // namespace hybrid::solvers
