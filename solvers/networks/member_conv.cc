#include "solvers/networks/member_conv.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "absl/strings/str_cat.h"

namespace hybrid::solvers {
namespace {

// Wraps one cell around both spatial dimensions of [N, C, H, W].
at::Tensor PadCircular(const at::Tensor& x) {
  const int64_t h = x.size(2);
  const int64_t w = x.size(3);
  at::Tensor rows = at::cat({x.narrow(2, h - 1, 1), x, x.narrow(2, 0, 1)}, 2);
  return at::cat({rows.narrow(3, w - 1, 1), rows, rows.narrow(3, 0, 1)}, 3);
}

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
  at::Tensor h = x.reshape({m, b, c, height, width}).transpose(0, 1).reshape({b, m * c, height, width});
  for (size_t k = 0; k < weights_.size(); ++k) {
    h = at::conv2d(PadCircular(h), weights_[k], biases_[k], /*stride=*/{1, 1}, /*padding=*/at::IntArrayRef{0, 0},
                   /*dilation=*/{1, 1},
                   /*groups=*/m);
    if (k + 1 < weights_.size()) h = at::tanh(h);
  }
  return h.reshape({b, m, c, height, width}).transpose(0, 1).reshape({m, b, c * height * width});
}

}  // namespace hybrid::solvers
