// The filter's forecast step against the exact solution of a linear ODE: the
// two-compartment PK model (pkpd.h) is dx/dt = A x, so with a constant input
// rate r the state is exp(t [[A, r], [0, 0]]) applied to [x0; 1]. Every member
// starts from its own state; the error must fall as h⁴ (classical RK4).
#include "solvers/assimilation/member_forecast.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "tests/solvers/linear_pk.h"

namespace hybrid::solvers {
namespace {

using testing::ExactPk;
using testing::PkModel;

const at::Tensor& Starts() {
  static const at::Tensor starts = at::tensor({100.0, 0.0, 0.0, 0.0, 20.0, 30.0, 5.0, 1.0}, at::kDouble).view({2, 4});
  return starts;
}

TEST(AdvanceMembers, EachMemberFollowsTheExactSolutionWithTheInputRate) {
  const std::shared_ptr<HybridModel> model = PkModel(2);
  const at::Tensor rate = at::tensor({0.0, 3.0, 0.0, 0.0}, at::kDouble);  // an infusion of 3 mg/h into central
  const at::Tensor x = AdvanceMembers(*model, Starts().unsqueeze(1), 1.0, 3.5, 0.05, rate).squeeze(1);
  const at::Tensor exact = ExactPk(Starts(), rate, 2.5);
  EXPECT_LT((x - exact).abs().max().item<double>(), 1e-5);  // RK4 at h = 0.05 on amounts of ~100 mg
  // The members differ: member 1 is not member 0's forecast.
  EXPECT_GT((x[0] - x[1]).abs().max().item<double>(), 1.0);
  // Mass balance: what entered (the starts' totals plus the infused 3 × 2.5) is still there.
  const at::Tensor totals = x.sum(1) - Starts().sum(1);
  EXPECT_NEAR(totals[0].item<double>(), 7.5, 1e-9);
  EXPECT_NEAR(totals[1].item<double>(), 7.5, 1e-9);
}

TEST(AdvanceMembers, ConvergesAtFourthOrder) {
  const std::shared_ptr<HybridModel> model = PkModel(2);
  const at::Tensor rate = at::tensor({0.0, 3.0, 0.0, 0.0}, at::kDouble);
  const at::Tensor exact = ExactPk(Starts(), rate, 4.0);
  auto error = [&](double h) {
    return (AdvanceMembers(*model, Starts().unsqueeze(1), 0.0, 4.0, h, rate).squeeze(1) - exact)
        .abs()
        .max()
        .item<double>();
  };
  const double ratio = error(0.4) / error(0.2);
  EXPECT_GT(ratio, 12.0);  // 2⁴ = 16
  EXPECT_LT(ratio, 20.0);
}

TEST(AdvanceMembers, NoTimeNoChangeAndBadArgumentsThrow) {
  const std::shared_ptr<HybridModel> model = PkModel(2);
  const at::Tensor x0 = Starts().unsqueeze(1);
  EXPECT_TRUE(at::equal(AdvanceMembers(*model, x0, 2.0, 2.0, 0.1, at::Tensor()), x0));
  EXPECT_THROW(AdvanceMembers(*model, x0, 2.0, 1.0, 0.1, at::Tensor()), c10::Error);
  EXPECT_THROW(AdvanceMembers(*model, x0, 0.0, 1.0, 0.0, at::Tensor()), c10::Error);
  EXPECT_THROW(AdvanceMembers(*model, Starts(), 0.0, 1.0, 0.1, at::Tensor()), c10::Error);
}

}  // namespace
}  // namespace hybrid::solvers
