#include "solvers/networks/vector_tanh_activation.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "solvers/fused/vector_tanh.h"

namespace hybrid::solvers {
namespace {

class VectorTanhFunction : public torch::autograd::Function<VectorTanhFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* context, const at::Tensor& x) {
    // Any dense layout (channels-last fields too): elementwise over the storage.
    const at::Tensor in = x.is_non_overlapping_and_dense() ? x : x.contiguous();
    at::Tensor out = at::empty_like(in);
    if (in.scalar_type() == at::kFloat) {
      VectorTanh(in.data_ptr<float>(), out.data_ptr<float>(), in.numel());
    } else {
      VectorTanh(in.data_ptr<double>(), out.data_ptr<double>(), in.numel());
    }
    context->save_for_backward({out});
    return out;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list grad) {
    return {at::tanh_backward(grad[0], context->get_saved_variables()[0])};
  }
};

}  // namespace

at::Tensor VectorTanhActivation(const at::Tensor& x) {
  const bool vector = x.device().is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble);
  return vector ? VectorTanhFunction::apply(x) : at::tanh(x);
}

}  // namespace hybrid::solvers
