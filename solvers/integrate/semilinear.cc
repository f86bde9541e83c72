#include "solvers/integrate/semilinear.h"

#include <ATen/ATen.h>

#include <cmath>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hybrid::solvers {
namespace {

constexpr int kContourPoints = 32;

struct EtdCoefficients {
  at::Tensor e, e2, q, f1, f2, f3;  // Real, broadcastable to the spectral state.
};

// φ-function combinations at z = hL by averaging over a circle around each z.
EtdCoefficients Coefficients(const at::Tensor& linear, double h) {
  const at::Tensor hl = (h * linear).unsqueeze(-1).to(at::kComplexDouble);
  const at::Tensor angles =
      M_PI * (at::arange(1, kContourPoints + 1, linear.options().dtype(at::kDouble)) - 0.5) / kContourPoints;
  const at::Tensor r = hl + at::polar(at::ones_like(angles), angles);  // [..., K, P]
  auto mean = [&](const at::Tensor& v) { return at::real(v.mean(-1)).to(linear.scalar_type()); };
  const at::Tensor er = at::exp(r), r2 = r * r, r3 = r2 * r;
  EtdCoefficients c;
  c.e = at::exp(h * linear);
  c.e2 = at::exp(0.5 * h * linear);
  c.q = h * mean((at::exp(0.5 * r) - 1.0) / r);
  c.f1 = h * mean((-4.0 - r + er * (4.0 - 3.0 * r + r2)) / r3);
  c.f2 = h * mean((2.0 + r + er * (r - 2.0)) / r3);
  c.f3 = h * mean((-4.0 - 3.0 * r - r2 + er * (4.0 - r)) / r3);
  return c;
}

at::Tensor EtdStep(const SemilinearModel& model, const EtdCoefficients& c, const at::Tensor& v) {
  const at::Tensor nv = model.NonlinearSpectral(v);
  const at::Tensor a = c.e2 * v + c.q * nv;
  const at::Tensor na = model.NonlinearSpectral(a);
  const at::Tensor b = c.e2 * v + c.q * na;
  const at::Tensor nb = model.NonlinearSpectral(b);
  const at::Tensor cc = c.e2 * a + c.q * (2.0 * nb - nv);
  const at::Tensor nc = model.NonlinearSpectral(cc);
  return c.e * v + c.f1 * nv + 2.0 * c.f2 * (na + nb) + c.f3 * nc;
}

}  // namespace

absl::StatusOr<Trajectory> SolveEtdRk4(const SemilinearModel& model, const at::Tensor& u0, double t0,
                                       absl::Span<const double> times, double step) {
  if (!(step > 0.0) || !std::isfinite(step)) {
    return absl::InvalidArgumentError(absl::StrCat("step must be finite and > 0, got ", step));
  }
  if (times.empty()) return absl::InvalidArgumentError("times must not be empty");
  Trajectory out;
  std::vector<at::Tensor> states;
  const at::Tensor linear = model.LinearSymbol();
  at::Tensor v = model.ToSpectral(u0);
  double t = t0, cached_h = -1.0;
  EtdCoefficients c;
  for (size_t i = 0; i < times.size(); ++i) {
    if (!std::isfinite(times[i]) || !(times[i] > t)) {
      return absl::InvalidArgumentError(
          absl::StrCat("times[", i, "] = ", times[i], " must be finite and greater than ", t));
    }
    const std::optional<int64_t> steps = FixedStepsBetween(t, times[i], step);
    if (!steps) {
      return absl::OutOfRangeError(absl::StrCat("times[", i, "]: step ", step, " needs more than 2^63 steps"));
    }
    const int64_t n = *steps;
    const double h = (times[i] - t) / static_cast<double>(n);
    if (h != cached_h) {  // Uniform grids compute the coefficients once.
      c = Coefficients(linear, h);
      cached_h = h;
    }
    for (int64_t k = 0; k < n; ++k) v = EtdStep(model, c, v);
    out.stats.accepted += n;
    const at::Tensor u = model.FromSpectral(v);
    if (!at::isfinite(u).all().item<bool>()) {
      return absl::FailedPreconditionError(absl::StrCat("state became non-finite by t = ", times[i], " (diverged)"));
    }
    states.push_back(u);
    t = times[i];
  }
  out.stats.evaluations = 4 * out.stats.accepted;
  out.states = at::stack(states, 0);
  return out;
}

}  // namespace hybrid::solvers
