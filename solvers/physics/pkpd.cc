#include "solvers/physics/pkpd.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "solvers/physics/physics_catalog.h"

namespace hybrid::solvers {
namespace {

enum Parameter : size_t { kKa, kCl, kV1, kQ, kV2, kEmax, kEc50, kHill, kKin, kKout };

// The model plus a constant infusion rate into the central compartment; the
// rate vector is built once per piece, not per evaluation.
class InfusedField : public VectorField {
 public:
  InfusedField(const TwoCompartmentPkPd& model, double rate, const at::TensorOptions& options) : model_(model) {
    if (rate != 0.0) {
      input_ = at::zeros({model.state_dim()}, options);
      input_[TwoCompartmentPkPd::kCentral] = rate;
    }
  }
  at::Tensor Evaluate(double t, const at::Tensor& x) const override {
    const at::Tensor f = model_.Evaluate(t, x);
    return input_.defined() ? f + input_ : f;
  }

 private:
  const TwoCompartmentPkPd& model_;
  at::Tensor input_;  // Undefined without infusion.
};

absl::Status ValidateDoses(const std::vector<Dose>& doses, double t0, double t_end) {
  for (size_t i = 0; i < doses.size(); ++i) {
    const Dose& d = doses[i];
    if (!(d.amount > 0.0) || !std::isfinite(d.amount)) {
      return absl::InvalidArgumentError(absl::StrCat("doses[", i, "].amount must be finite and > 0, got ", d.amount));
    }
    if (!(d.time >= t0) || !(d.time <= t_end)) {
      return absl::InvalidArgumentError(
          absl::StrCat("doses[", i, "].time = ", d.time, " must lie in [", t0, ", ", t_end, "]"));
    }
    if (d.route == DoseRoute::kInfusion && (!(d.duration > 0.0) || !std::isfinite(d.duration))) {
      return absl::InvalidArgumentError(absl::StrCat("doses[", i, "].duration must be > 0 for an infusion"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<ParameterSpec>& TwoCompartmentPkPd::Specs() {
  static const std::vector<ParameterSpec> specs = {
      {"ka", "1/h", 1.0, 1e-6, 1e3, "first-order absorption rate"},
      {"CL", "L/h", 5.0, 1e-6, 1e4, "clearance from the central compartment"},
      {"V1", "L", 50.0, 1e-3, 1e5, "central volume"},
      {"Q", "L/h", 10.0, 1e-9, 1e4, "inter-compartmental clearance"},
      {"V2", "L", 100.0, 1e-3, 1e5, "peripheral volume"},
      {"Emax", "effect units", 100.0, 1e-6, 1e6, "maximal effect"},
      {"EC50", "mg/L", 1.0, 1e-9, 1e6, "concentration at half-maximal effect"},
      {"hill", "1", 1.5, 1e-2, 100.0, "Hill coefficient"},
      {"kin", "units/h", 10.0, 1e-9, 1e6, "zero-order production of the response (structure response ≥ 1)"},
      {"kout", "1/h", 0.1, 1e-9, 1e3, "first-order loss of the response (structure response ≥ 1)"},
  };
  return specs;
}

absl::StatusOr<std::shared_ptr<TwoCompartmentPkPd>> TwoCompartmentPkPd::Create(const PhysicsOptions& options) {
  OptionsReader read(Specs(), options, {"response"});
  const auto response = static_cast<Response>(read.Int("response", 0, 0, 2));
  if (!read.status().ok()) return read.status();
  return std::shared_ptr<TwoCompartmentPkPd>(new TwoCompartmentPkPd(options, response));
}

at::Tensor TwoCompartmentPkPd::Evaluate(double /*t*/, const at::Tensor& x) const {
  CheckState(x);
  const at::Tensor depot = x.select(2, kDepot), central = x.select(2, kCentral), peripheral = x.select(2, kPeripheral);
  const at::Tensor ka = MemberValue(kKa, 2), v1 = MemberValue(kV1, 2);
  const at::Tensor elimination = MemberValue(kCl, 2) / v1 * central;
  const at::Tensor exchange = MemberValue(kQ, 2) * (central / v1 - peripheral / MemberValue(kV2, 2));
  const at::Tensor absorption = ka * depot;
  std::vector<at::Tensor> rates = {-absorption, absorption - elimination - exchange, exchange, elimination};
  if (response_ != Response::kNone) {
    const at::Tensor r = x.select(2, kResponse);
    at::Tensor loss = MemberValue(kKout, 2) * r;
    if (response_ == Response::kIndirect) loss = loss * (1.0 + Effect(x));
    rates.push_back(MemberValue(kKin, 2) - loss);
  }
  return at::stack(rates, 2);
}

at::Tensor TwoCompartmentPkPd::Effect(const at::Tensor& x) const {
  const at::Tensor concentration = x.select(-1, kCentral).clamp_min(0.0) / MemberValue(kV1, x.dim() - 1);
  const at::Tensor hill = MemberValue(kHill, x.dim() - 1);
  const at::Tensor c_h = concentration.pow(hill);
  return MemberValue(kEmax, x.dim() - 1) * c_h / (MemberValue(kEc50, x.dim() - 1).pow(hill) + c_h);
}

absl::StatusOr<Trajectory> SolveWithDosing(const TwoCompartmentPkPd& model, const at::Tensor& x0, double t0,
                                           absl::Span<const double> times, const SolverOptions& options,
                                           const std::vector<Dose>& doses) {
  if (times.empty()) return absl::InvalidArgumentError("times must not be empty");
  if (absl::Status s = ValidateDoses(doses, t0, times.back()); !s.ok()) return s;

  // Breakpoints: every dose time and infusion end inside (t0, t_end).
  std::set<double> breaks;
  for (const Dose& d : doses) {
    breaks.insert(d.time);
    if (d.route == DoseRoute::kInfusion) breaks.insert(std::min(d.time + d.duration, times.back()));
  }
  auto rate_at = [&](double t) {  // Infusion rate on [t, next breakpoint).
    double rate = 0.0;
    for (const Dose& d : doses)
      if (d.route == DoseRoute::kInfusion && d.time <= t && t < d.time + d.duration) rate += d.amount / d.duration;
    return rate;
  };
  auto give_boluses = [&](double t, at::Tensor x) {
    for (const Dose& d : doses) {
      if (d.time != t || d.route == DoseRoute::kInfusion) continue;
      at::Tensor jump = at::zeros({model.state_dim()}, x.options());
      jump[d.route == DoseRoute::kOral ? TwoCompartmentPkPd::kDepot : TwoCompartmentPkPd::kCentral] = d.amount;
      x = x + jump;
    }
    return x;
  };

  Trajectory out;
  std::vector<at::Tensor> states;
  at::Tensor x = give_boluses(t0, x0);
  double t = t0;
  size_t next = 0;
  while (next < times.size()) {
    auto upper = breaks.upper_bound(t);
    const double piece_end = upper == breaks.end() ? times.back() : std::min(*upper, times.back());
    std::vector<double> piece_times;
    while (next < times.size() && times[next] <= piece_end) piece_times.push_back(times[next++]);
    const bool end_is_output = !piece_times.empty() && piece_times.back() == piece_end;
    if (!end_is_output) piece_times.push_back(piece_end);
    const InfusedField field(model, rate_at(t), x.options());
    absl::StatusOr<Trajectory> piece = SolveOde(field, x, t, piece_times, options);
    if (!piece.ok()) return piece.status();
    out.stats.accepted += piece->stats.accepted;
    out.stats.rejected += piece->stats.rejected;
    out.stats.evaluations += piece->stats.evaluations;
    x = give_boluses(piece_end, piece->states[piece->states.size(0) - 1]);
    const int64_t outputs = static_cast<int64_t>(piece_times.size()) - (end_is_output ? 0 : 1);
    for (int64_t i = 0; i < outputs; ++i) {
      // An output at a dosing time reports the state after the dose.
      states.push_back(end_is_output && i == outputs - 1 ? x : piece->states[i]);
    }
    t = piece_end;
  }
  out.states = at::stack(states, 0);
  return out;
}

std::vector<StateComponent> TwoCompartmentPkPd::Components() const {
  // Amounts, and a biomarker level: none can be negative.
  std::vector<StateComponent> out = {
      {"depot", "mg", true}, {"central", "mg", true}, {"peripheral", "mg", true}, {"eliminated", "mg", true}};
  if (response_ != Response::kNone) out.push_back({"response", "1", true});
  return out;
}

HYBRID_REGISTER_PHYSICS(pkpd_two_compartment,
                        "two-compartment PK with absorption and an Emax effect (ka, CL, V1, Q, V2, Emax, EC50, hill, "
                        "kin, kout); structure response",
                        CatalogFactory<TwoCompartmentPkPd>)

}  // namespace hybrid::solvers
