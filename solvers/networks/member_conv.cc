#include "solvers/networks/member_conv.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "solvers/networks/vector_tanh_activation.h"

namespace hybrid::solvers {
namespace {

// Wraps one cell around both spatial dimensions of [N, C, H, W] → [N, C, H + 2, W + 2].
// One allocation and five copies forward; backward folds the halo back onto
// the cells it copies (rows, then columns, so the corners land right) with
// two copies and four slice additions, where cat's and narrow's autograd
// zero-fill and copy the whole field six times. The backward is made of
// differentiable operations, so higher derivatives stay exact.
class PadCircular : public torch::autograd::Function<PadCircular> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* /*context*/, const at::Tensor& x) {
    const int64_t h = x.size(2), w = x.size(3);
    at::Tensor out =
        at::empty({x.size(0), x.size(1), h + 2, w + 2}, x.options().memory_format(x.suggest_memory_format()));
    at::Tensor middle = out.narrow(3, 1, w);
    middle.narrow(2, 1, h).copy_(x);
    middle.narrow(2, 0, 1).copy_(x.narrow(2, h - 1, 1));
    middle.narrow(2, h + 1, 1).copy_(x.narrow(2, 0, 1));
    out.narrow(3, 0, 1).copy_(out.narrow(3, w, 1));
    out.narrow(3, w + 1, 1).copy_(out.narrow(3, 1, 1));
    return out;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* /*context*/,
                                                 torch::autograd::variable_list grad) {
    const at::Tensor& g = grad[0];
    const int64_t h = g.size(2) - 2, w = g.size(3) - 2;
    at::Tensor rows = g.narrow(2, 1, h).clone();
    rows.narrow(2, 0, 1).add_(g.narrow(2, h + 1, 1));
    rows.narrow(2, h - 1, 1).add_(g.narrow(2, 0, 1));
    at::Tensor cells = rows.narrow(3, 1, w).clone();
    cells.narrow(3, 0, 1).add_(rows.narrow(3, w + 1, 1));
    cells.narrow(3, w - 1, 1).add_(rows.narrow(3, 0, 1));
    return {cells};
  }
};

}  // namespace

MemberConvImpl::MemberConvImpl(const MemberConvOptions& options) : options_(options) {
  at::Generator generator = at::detail::createCPUGenerator(options.seed);
  const int64_t channels = options.field_shape.at(0);
  std::vector<int64_t> sizes = {channels};
  sizes.insert(sizes.end(), options.hidden.begin(), options.hidden.end());
  sizes.push_back(channels);
  for (size_t k = 0; k + 1 < sizes.size(); ++k) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(sizes[k] * 9));
    const double scale = (k + 2 == sizes.size()) ? options.output_scale : 1.0;
    auto uniform = [&](at::IntArrayRef shape) {
      return ((at::rand(shape, generator, at::kDouble) * 2.0 - 1.0) * (bound * scale)).to(options.dtype);
    };
    weights_.push_back(
        register_parameter(absl::StrCat("w", k), uniform({options.members * sizes[k + 1], sizes[k], 3, 3})));
    biases_.push_back(register_parameter(absl::StrCat("b", k), uniform({options.members * sizes[k + 1]})));
  }
}

at::Tensor MemberConvImpl::Forward(const at::Tensor& x) const {
  const int64_t m = x.size(0);
  const int64_t b = x.size(1);
  const int64_t c = options_.field_shape[0];
  const int64_t height = options_.field_shape[1];
  const int64_t width = options_.field_shape[2];
  // [M, B, C·H·W] → [B, M·C, H, W]: member m's channels form group m.
  // float32 fields channels-last: LibTorch 1.13's convolutions are much
  // faster so (1 thread, 32×32, 16 windows: 2→16 forward + backward 0.87 vs
  // 8.9 ms; the whole FitzHugh–Nagumo training iteration 0.86× the time).
  // float64 stays NCHW: channels-last is slower there (2→16: 15.2 vs 10.5 ms).
  const at::MemoryFormat format =
      x.scalar_type() == at::kFloat ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  at::Tensor h =
      x.reshape({m, b, c, height, width}).transpose(0, 1).reshape({b, m * c, height, width}).contiguous(format);
  for (size_t k = 0; k < weights_.size(); ++k) {
    h = at::conv2d(PadCircular::apply(h), weights_[k].contiguous(format), biases_[k], /*stride=*/{1, 1},
                   /*padding=*/at::IntArrayRef{0, 0},
                   /*dilation=*/{1, 1},
                   /*groups=*/m);
    if (k + 1 < weights_.size()) h = VectorTanhActivation(h);
  }
  return h.reshape({b, m, c, height, width}).transpose(0, 1).reshape({m, b, c * height * width});
}

}  // namespace hybrid::solvers
