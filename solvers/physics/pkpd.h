// Two-compartment pharmacokinetics with first-order absorption and an Emax
// pharmacodynamic effect (Gabrielsson & Weiner, "Pharmacokinetic and
// Pharmacodynamic Data Analysis", chapters 2–3; the ka/CL/V1/Q/V2
// parameterisation of NONMEM's ADVAN4), with dosing events.
//
// State [M, B, 4], amounts in mg: depot A_d, central A_c, peripheral A_p and
// the cumulative amount eliminated A_e (so that mass balance is observable):
//   dA_d/dt = −ka A_d
//   dA_c/dt =  ka A_d − (CL/V1) A_c − (Q/V1) A_c + (Q/V2) A_p + R(t)
//   dA_p/dt =  (Q/V1) A_c − (Q/V2) A_p
//   dA_e/dt =  (CL/V1) A_c
// so A_d + A_c + A_p + A_e equals the total dose given. R(t) is the infusion
// rate into the central compartment. Effect (algebraic, not a state):
//   E(C) = Emax C^hill / (EC50^hill + C^hill),   C = A_c / V1 (mg/L).
// Time in hours. Defaults are illustrative (ka 1/h, CL 5 L/h, V1 50 L,
// Q 10 L/h, V2 100 L, Emax 100, EC50 1 mg/L, hill 1.5): calibrate them.
//
// Structure "response" adds a fifth state, a turnover response R (e.g. a
// biomarker) with production kin and loss kout (baseline R = kin/kout):
//   0 (default)  no response state, D = 4;
//   1            dR/dt = kin − kout R             (turnover only: the drug's
//                effect unknown, the physics of a hybrid that learns it);
//   2            dR/dt = kin − kout (1 + E(C)) R  (indirect response, type IV:
//                the drug stimulates loss; Emax is then the maximal
//                fold-stimulation, dimensionless).
//
//   std::vector<Dose> doses = {{0.0, 100.0, DoseRoute::kOral}, {12.0, 50.0, DoseRoute::kInfusion, 2.0}};
//   absl::StatusOr<Trajectory> r = SolveWithDosing(*model, x0, 0.0, times, options, doses);
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "solvers/integrate/ode_solver.h"
#include "solvers/physics/scientific_model.h"

namespace hybrid::solvers {

class TwoCompartmentPkPd : public ScientificModel {
 public:
  static absl::StatusOr<std::shared_ptr<TwoCompartmentPkPd>> Create(const PhysicsOptions& options);
  static const std::vector<ParameterSpec>& Specs();
  enum Compartment : int64_t { kDepot = 0, kCentral = 1, kPeripheral = 2, kEliminated = 3, kResponse = 4 };
  enum class Response { kNone = 0, kTurnover = 1, kIndirect = 2 };

  int64_t state_dim() const override { return response_ == Response::kNone ? 4 : 5; }
  // Amounts in mg; the response R in the unit of kin/kout.
  std::vector<StateComponent> Components() const override;
  // Without infusion (R = 0); SolveWithDosing adds R piece by piece.
  at::Tensor Evaluate(double t, const at::Tensor& x) const override;
  // Emax effect of the central concentration, shape of x without the last dimension.
  at::Tensor Effect(const at::Tensor& x) const;

 private:
  TwoCompartmentPkPd(const PhysicsOptions& options, Response response)
      : ScientificModel(Specs(), options), response_(response) {}
  const Response response_;
};

enum class DoseRoute {
  kOral,      // Bolus into the depot (absorbed at rate ka).
  kIvBolus,   // Bolus into the central compartment.
  kInfusion,  // Constant rate amount/duration into the central compartment.
};

struct Dose {
  double time = 0.0;    // h
  double amount = 0.0;  // mg, > 0
  DoseRoute route = DoseRoute::kOral;
  double duration = 0.0;  // h, > 0 for infusions
};

// Solves piecewise between dosing events, so that no step crosses a
// discontinuity: boluses are added to the state at their time (an output at
// that time sees the state after the dose) and infusions contribute a
// constant rate while they run. Differentiable like SolveOde. Doses before t0
// or after the last output time are INVALID_ARGUMENT naming doses[i].
absl::StatusOr<Trajectory> SolveWithDosing(const TwoCompartmentPkPd& model, const at::Tensor& x0, double t0,
                                           absl::Span<const double> times, const SolverOptions& options,
                                           const std::vector<Dose>& doses);

}  // namespace hybrid::solvers
