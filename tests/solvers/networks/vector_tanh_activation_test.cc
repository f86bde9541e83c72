// The vector tanh against libm (through at::tanh) and its derivatives against
// the analytic ones and finite differences: values within a few ulp in
// float32 and float64 at every position (the tail included), the gradient
// 1 − tanh², the second derivative −2·tanh·(1 − tanh²) by double backward.
#include "solvers/networks/vector_tanh_activation.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>

namespace hybrid::solvers {
namespace {

TEST(VectorTanhActivation, MatchesLibmWithinAFewUlpAtEveryPosition) {
  // Odd sizes: every tail length of the vector loop; values from deep saturation through 0.
  for (int64_t n : {1, 3, 7, 17, 33, 1001}) {
    for (at::ScalarType dtype : {at::kFloat, at::kDouble}) {
      const at::Tensor x = at::linspace(-20.0, 20.0, n, at::TensorOptions().dtype(at::kDouble)).to(dtype);
      const at::Tensor got = VectorTanhActivation(x).to(at::kDouble);
      const at::Tensor want = at::tanh(x).to(at::kDouble);
      const double ulp = dtype == at::kFloat ? 1.2e-7 : 2.3e-16;
      const double worst = ((got - want).abs() / want.abs().clamp_min(1e-30)).max().item<double>();
      EXPECT_LE(worst, 4.0 * ulp) << "n " << n << " dtype " << dtype;
    }
  }
  const at::Tensor odd = at::randn({5, 3, 4}, at::kDouble).transpose(0, 2);  // Not contiguous, but dense.
  EXPECT_TRUE(at::allclose(VectorTanhActivation(odd), at::tanh(odd), 1e-15, 0.0));
  EXPECT_EQ(VectorTanhActivation(odd).strides(), odd.strides()) << "the layout is kept";
  const at::Tensor every_other = at::randn({6, 4}, at::kDouble).slice(0, 0, 6, 2);  // Not dense.
  EXPECT_TRUE(at::allclose(VectorTanhActivation(every_other), at::tanh(every_other), 1e-15, 0.0));
}

TEST(VectorTanhActivation, FirstAndSecondDerivativesAreTanhs) {
  const at::Tensor x = at::linspace(-3.0, 3.0, 41, at::TensorOptions().dtype(at::kDouble)).requires_grad_(true);
  const at::Tensor y = VectorTanhActivation(x);
  const at::Tensor dy = torch::autograd::grad({y.sum()}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
  const at::Tensor t = at::tanh(x.detach());
  EXPECT_TRUE(at::allclose(dy.detach(), 1.0 - t * t, 1e-14, 1e-15));
  const at::Tensor d2y = torch::autograd::grad({dy.sum()}, {x})[0];
  EXPECT_TRUE(at::allclose(d2y, -2.0 * t * (1.0 - t * t), 1e-13, 1e-15));
  // And the first derivative against central differences of the op itself.
  const double h = 1e-6;
  const at::Tensor fd = (VectorTanhActivation(x.detach() + h) - VectorTanhActivation(x.detach() - h)) / (2.0 * h);
  EXPECT_TRUE(at::allclose(dy.detach(), fd, 1e-8, 1e-10));
}

}  // namespace
}  // namespace hybrid::solvers
