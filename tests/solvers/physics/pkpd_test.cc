// Two-compartment PK/PD with dosing against mathematics: mass balance across
// oral, IV and infusion doses, closed-form solutions (depot decay, the Bateman
// function, the infusion plateau), and the Emax curve.
#include "solvers/physics/pkpd.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/solvers/solver_presets.h"

namespace hybrid::solvers {
namespace {

std::vector<double> Grid(double end, double dt) {
  std::vector<double> t;
  for (int i = 1; i * dt <= end + 1e-12; ++i) t.push_back(i * dt);
  return t;
}

std::shared_ptr<TwoCompartmentPkPd> Model(std::map<std::string, double> initial = {}) {
  PhysicsOptions o;
  o.initial = std::move(initial);
  return TwoCompartmentPkPd::Create(o).value();
}

const at::Tensor kEmpty = at::zeros({1, 1, 4}, at::kDouble);

TEST(PkPd, MassBalanceHoldsThroughEveryKindOfDose) {
  auto model = Model();
  const std::vector<Dose> doses = {{0.0, 100.0, DoseRoute::kOral},
                                   {6.0, 40.0, DoseRoute::kIvBolus},
                                   {8.5, 60.0, DoseRoute::kInfusion, 3.0},
                                   {10.0, 25.0, DoseRoute::kOral}};
  const std::vector<double> times = Grid(24.0, 0.5);  // Includes dosing times 6 and 10.
  absl::StatusOr<Trajectory> r = SolveWithDosing(*model, kEmpty, 0.0, times, ::hybrid::testing::TightDopri5(), doses);
  ASSERT_TRUE(r.ok()) << r.status();
  for (size_t i = 0; i < times.size(); ++i) {
    double given = 0.0;
    for (const Dose& d : doses) {
      if (d.time > times[i]) continue;
      given += d.route == DoseRoute::kInfusion ? d.amount * std::min(1.0, (times[i] - d.time) / d.duration) : d.amount;
    }
    EXPECT_NEAR(r->states[i].sum().item<double>(), given, 1e-9 * given) << "t = " << times[i];
    EXPECT_GE(r->states[i].min().item<double>(), -1e-12) << "amounts stay non-negative";
  }
  // At t = 6 the IV bolus has just been given: the central amount jumps by 40.
  const double before = r->states[10][0][0][TwoCompartmentPkPd::kCentral].item<double>();   // t = 5.5
  const double at_dose = r->states[11][0][0][TwoCompartmentPkPd::kCentral].item<double>();  // t = 6
  EXPECT_GT(at_dose - before, 35.0);
}

TEST(PkPd, OralDoseFollowsTheBatemanFunction) {
  // With negligible distribution (Q → 0) the central amount after an oral dose D is
  //   A_c(t) = D ka / (ka − k) (e^{−k t} − e^{−ka t}),  k = CL / V1,  and A_d = D e^{−ka t}.
  auto model = Model({{"Q", 1e-9}});
  const double dose = 100.0, ka = 1.0, k = 5.0 / 50.0;
  const std::vector<double> times = Grid(12.0, 1.0);
  absl::StatusOr<Trajectory> r =
      SolveWithDosing(*model, kEmpty, 0.0, times, ::hybrid::testing::TightDopri5(), {{0.0, dose, DoseRoute::kOral}});
  ASSERT_TRUE(r.ok()) << r.status();
  for (size_t i = 0; i < times.size(); ++i) {
    const double t = times[i];
    EXPECT_NEAR(r->states[i][0][0][0].item<double>(), dose * std::exp(-ka * t), 1e-8) << "depot, t = " << t;
    const double bateman = dose * ka / (ka - k) * (std::exp(-k * t) - std::exp(-ka * t));
    EXPECT_NEAR(r->states[i][0][0][1].item<double>(), bateman, 1e-6) << "central, t = " << t;
  }
}

TEST(PkPd, InfusionApproachesItsPlateauAndDecaysAfterwards) {
  // One compartment (Q → 0), rate R for T hours: A_c = (R/k)(1 − e^{−kt}) while
  // it runs, then decays as e^{−k(t − T)}.
  auto model = Model({{"Q", 1e-9}});
  const double rate = 10.0, duration = 6.0, k = 0.1;
  absl::StatusOr<Trajectory> r = SolveWithDosing(*model, kEmpty, 0.0, {3.0, 6.0, 9.0}, ::hybrid::testing::TightDopri5(),
                                                 {{0.0, rate * duration, DoseRoute::kInfusion, duration}});
  ASSERT_TRUE(r.ok()) << r.status();
  auto plateau = [&](double t) { return rate / k * (1 - std::exp(-k * t)); };
  EXPECT_NEAR(r->states[0][0][0][1].item<double>(), plateau(3.0), 1e-6);
  EXPECT_NEAR(r->states[1][0][0][1].item<double>(), plateau(6.0), 1e-6);
  EXPECT_NEAR(r->states[2][0][0][1].item<double>(), plateau(6.0) * std::exp(-k * 3.0), 1e-6);
}

TEST(PkPd, EmaxEffectHasItsHalfMaximumAtEc50) {
  auto model = Model({{"V1", 10.0}, {"EC50", 2.0}, {"hill", 3.0}});
  // Central amounts giving C = 0, EC50, 10·EC50.
  const at::Tensor x =
      at::tensor({0.0, 0.0, 0.0, 0.0, 0.0, 20.0, 0.0, 0.0, 0.0, 200.0, 0.0, 0.0}, at::kDouble).view({1, 3, 4});
  const at::Tensor e = model->Effect(x);
  EXPECT_NEAR(e[0][0].item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(e[0][1].item<double>(), 50.0, 1e-12);
  EXPECT_NEAR(e[0][2].item<double>(), 100.0 * 1000.0 / 1001.0, 1e-9);
}

TEST(PkPd, BadDosesAreNamed) {
  auto model = Model();
  auto error = [&](Dose d) {
    return std::string(SolveWithDosing(*model, kEmpty, 0.0, {10.0}, ::hybrid::testing::TightDopri5(),
                                       {{0.0, 1.0, DoseRoute::kOral}, d})
                           .status()
                           .message());
  };
  EXPECT_NE(error({1.0, -5.0, DoseRoute::kOral}).find("doses[1].amount"), std::string::npos);
  EXPECT_NE(error({11.0, 5.0, DoseRoute::kOral}).find("doses[1].time"), std::string::npos);
  EXPECT_NE(error({1.0, 5.0, DoseRoute::kInfusion, 0.0}).find("doses[1].duration"), std::string::npos);
}

std::shared_ptr<TwoCompartmentPkPd> ResponseModel(int response, std::map<std::string, double> initial) {
  PhysicsOptions o;
  o.initial = std::move(initial);
  o.structure = {{"response", response}};
  return TwoCompartmentPkPd::Create(o).value();
}

TEST(PkPd, TurnoverResponseRelaxesExponentiallyToKinOverKout) {
  // Without drug: R(t) = kin/kout + (R0 − kin/kout) e^{−kout t}.
  auto model = ResponseModel(1, {{"kin", 10.0}, {"kout", 0.1}});
  ASSERT_EQ(model->state_dim(), 5);
  const at::Tensor x0 = at::tensor({0.0, 0.0, 0.0, 0.0, 40.0}, at::kDouble).reshape({1, 1, 5});
  const std::vector<double> times = Grid(24.0, 2.0);
  absl::StatusOr<Trajectory> r = SolveWithDosing(*model, x0, 0.0, times, ::hybrid::testing::TightDopri5(), {});
  ASSERT_TRUE(r.ok()) << r.status();
  for (size_t i = 0; i < times.size(); ++i) {
    const double expected = 100.0 + (40.0 - 100.0) * std::exp(-0.1 * times[i]);
    EXPECT_NEAR(r->states[i][0][0][TwoCompartmentPkPd::kResponse].item<double>(), expected, 1e-8) << times[i];
  }
}

TEST(PkPd, IndirectResponseAtConstantConcentrationHasItsClosedForm) {
  // No elimination or distribution (CL, Q → 0): after an IV bolus of 50 mg
  // into V1 = 50 L, C stays 1 mg/L = EC50, so E = Emax/2 = 1 and
  //   R(t) = R_ss + (R0 − R_ss) e^{−kout (1 + E) t},  R_ss = kin / (kout (1 + E)).
  auto model =
      ResponseModel(2, {{"CL", 1e-6}, {"Q", 1e-9}, {"Emax", 2.0}, {"EC50", 1.0}, {"kin", 10.0}, {"kout", 0.1}});
  const at::Tensor x0 = at::tensor({0.0, 0.0, 0.0, 0.0, 100.0}, at::kDouble).reshape({1, 1, 5});
  const std::vector<double> times = Grid(24.0, 2.0);
  absl::StatusOr<Trajectory> r =
      SolveWithDosing(*model, x0, 0.0, times, ::hybrid::testing::TightDopri5(), {{0.0, 50.0, DoseRoute::kIvBolus}});
  ASSERT_TRUE(r.ok()) << r.status();
  for (size_t i = 0; i < times.size(); ++i) {
    const double expected = 50.0 + (100.0 - 50.0) * std::exp(-0.2 * times[i]);
    // CL = 1e-6 L/h removes < 1e-6 of the drug over 24 h: far below this tolerance.
    EXPECT_NEAR(r->states[i][0][0][TwoCompartmentPkPd::kResponse].item<double>(), expected, 1e-5) << times[i];
    EXPECT_NEAR(r->states[i].narrow(2, 0, 4).sum().item<double>(), 50.0, 1e-9) << "the response adds no mass";
  }
  PhysicsOptions bad;
  bad.structure = {{"response", 3}};
  EXPECT_NE(TwoCompartmentPkPd::Create(bad).status().message().find("structure.response"), absl::string_view::npos);
}

}  // namespace
}  // namespace hybrid::solvers
