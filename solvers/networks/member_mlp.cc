#include "solvers/networks/member_mlp.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "solvers/networks/vector_tanh_activation.h"

namespace hybrid::solvers {

MemberMlpImpl::MemberMlpImpl(const MemberMlpOptions& options) : options_(options) {
  at::Generator generator = at::detail::createCPUGenerator(options.seed);
  std::vector<int64_t> sizes = {options.input};
  sizes.insert(sizes.end(), options.hidden.begin(), options.hidden.end());
  sizes.push_back(options.output);
  for (size_t k = 0; k + 1 < sizes.size(); ++k) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(sizes[k]));
    const double scale = (k + 2 == sizes.size()) ? options.output_scale : 1.0;
    auto uniform = [&](at::IntArrayRef shape) {
      return ((at::rand(shape, generator, at::kDouble) * 2.0 - 1.0) * (bound * scale)).to(options.dtype);
    };
    weights_.push_back(register_parameter(absl::StrCat("w", k), uniform({options.members, sizes[k], sizes[k + 1]})));
    biases_.push_back(register_parameter(absl::StrCat("b", k), uniform({options.members, 1, sizes[k + 1]})));
  }
}

at::Tensor MemberMlpImpl::Forward(const at::Tensor& x) const {
  at::Tensor h = x;
  for (size_t k = 0; k < weights_.size(); ++k) {
    h = at::baddbmm(biases_[k], h, weights_[k]);
    if (k + 1 < weights_.size()) {
      h = VectorTanhActivation(h);
      if (options_.dropout > 0.0 && is_training()) h = at::dropout(h, options_.dropout, /*train=*/true);
    }
  }
  return h;
}

}  // namespace hybrid::solvers
