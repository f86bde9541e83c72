// ForecastErrorModel: what a model's forecasts miss, learned online from what
// the stream scores, so that Predict's intervals and the divergence guard are
// honest at every lead time instead of reusing one residual measured at the
// window horizon.
//
//   ForecastErrorModel errors = ForecastErrorModel::Create(options, /*state_dim=*/3).value();
//   at::Tensor v = errors.ObservationVariance(sample_variance, lead);       // what a reading may miss
//   ScoredForecast s{...};                                                  // innovations of a window batch
//   absl::Status ok = errors.CheckWindows(s, "before the update");          // the innovation (χ²-type) test
//   errors.Learn(s);                                                        // after the update stands
//   errors.LearnRefused(s);                                                 // or after the test refused it
//
// Per state component d it holds
//   R_d  the sensor noise variance, from the config (observation_noise_std); fixed;
//   q_d  the model-error rate: the variance a forecast accumulates per unit of
//        lead time beyond what its members' spread and its propagated start
//        uncertainty explain. Forecasts add it as a stochastic forcing
//        √(h·q)·ξ after every step (perturbed_forecast.h), so the dynamics
//        stretch it as they stretch everything else: it grows with lead time.
// and per lead-time bucket (half octaves of lead) a conformal scale c_b,
// updated by adaptive conformal inference (Gibbs & Candès, NeurIPS 2021) so
// that the observation interval at `coverage_level` covers what arrives.
//
// Learning, from the innovations e = y − μ of one accepted observation at
// leads τ (every window end, every observed path point), with v the variance
// of the start-perturbed forecast samples and V the predicted variance below:
// a weighted moment estimator, each observation weighing 1/s² (s the mean
// squared innovation of about the twenty observations before it: the inverse
// variance of e², not set by this observation's own noise),
//   N_d ← (1 − w)·N_d + w·Σ m·τ·(e² − v − R)/s²,   D_d ← (1 − w)·D_d + w·Σ m·τ²/s²,   q_d = N_d / D_d,
// w = max(1 / (n + 3), memory) (n: observations that observed d so far; q_d
// is used clamped at ≥ 0). The weights make a model's misfits while it is far
// from calibrated — orders of magnitude larger and noisier than its later
// ones — count as little as they deserve. Before any data q_d =
// initial_model_error_std², a prior worth two observations, so one lucky
// first window cannot make the guard strict. The predicted variance of an
// observation at lead τ is V = max(v + q·τ + R, 1e-18) (the floor: no
// forecast is more exact than float64 rounding).
//
// (Inflating the members' own spread instead, regressed on the same
// innovations, was tried: confounded with the start perturbations' spread, it
// made Lorenz-63 intervals from exact starts five times too wide.)
//
// The guard (Student-type innovation test): window w with k_w observed
// components and d²_w = Σ m·(y − μ)² / V is rejected when
//   d²_w > k_w · F⁻¹_{k_w, ν}(1 − guard_false_alarm),   ν = min(2 + min(scores seen, 1000), S − 1),
// the F quantile (Boost.Math) accounting for a variance learned from ν
// values: a fresh model (ν = 2) accepts honest misfits of hundreds of its
// prior standard deviations and still refuses a reading of 1e6; a calibrated
// one tests at the quantile of F(k, S − 1) — S forecast samples estimate the
// propagated start noise in V (with S = 40, 45.8 for k = 3 at 1e-6, where
// χ²₃ says 30.7: honest Lorenz-63 windows reached 38.7 in 8000).
//
// Losing track: learning only from accepted observations, a model that has
// gone off — its physics changed (ρ 28 → 31), or its optimiser swung a
// parameter — sees only the few windows it still fits, learns that it is
// exact, and refuses everything after: 792 of the 800 honest Lorenz-63
// observations after ρ stepped from 28 to 31, ρ staying at 28.06
// (experiments/guard_and_intervals.py); after an optimiser swing on two
// streams, the few accepted ones dragged ρ from 28 to 14.6. So refusals are
// counted too (an EMA over about twenty scored observations), and once at least 80% of the
// recent ones were refused the refused observations also teach q, each
// point's innovation shrunk onto the test's limit (d² = threshold): q widens
// by a bounded step per refusal until the data pass and the gradient can
// bring the model back. A glitching sensor between honest readings keeps the
// share near one half and teaches nothing; a sensor that only ever sends
// garbage is, after about thirty refusals, eventually followed, as every
// adaptive estimator must follow its data.
//
// Shapes: per-component tensors are [D] float64; scored points are [N, D].
// Units: state units, lead in the model's time unit. Not thread-safe: one
// owner (the calibrator); snapshots copy it (copies share nothing mutable).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hybrid::solvers {

struct ForecastErrorOptions {
  std::vector<double> observation_noise_std{};  // 1 value (every component) or D; empty: exact sensors.
  double initial_model_error_std = 1.0;         // √q before any data, per √(time unit); > 0.
  double memory = 0.01;                         // Smallest weight of one observation in q, in (0, 1].
  double guard_false_alarm = 1e-6;              // Per window; ≤ 0: no innovation test.
  double coverage_level = 0.9;                  // Of the scored observation interval.
  double conformal_gain = 0.005;                // ACI step γ on log c_b per scored value.
};

// Innovations of W windows at N = W·L scored points (L = 1 for end states,
// the path length for observed paths), rows window-major.
struct ScoredForecast {
  at::Tensor innovation;       // [N, D] y − μ (μ: mean of the forecast samples).
  at::Tensor sample_variance;  // [N, D] variance of the forecast samples.
  at::Tensor mask;             // [N, D] 1 observed / 0 not.
  at::Tensor lead;             // [N] lead time of each point.
  int64_t windows = 0;         // W; rows [w·L, (w + 1)·L) belong to window w.
  int64_t samples = 1;         // Forecast samples behind sample_variance (S − 1 of its degrees of freedom).
};

class ForecastErrorModel {
 public:
  // INVALID_ARGUMENT naming the uncertainty.* field.
  static absl::StatusOr<ForecastErrorModel> Create(const ForecastErrorOptions& options, int64_t state_dim);

  // R, [D]: the sensor noise variance.
  const at::Tensor& noise_variance() const { return noise_variance_; }
  // q clamped at 0, [D]: model-error variance per unit lead time.
  at::Tensor model_error_rate() const;
  // V = sample_variance + q·lead + R (floored); sample_variance [..., D],
  // lead [...] (or a scalar).
  at::Tensor ObservationVariance(const at::Tensor& sample_variance, const at::Tensor& lead) const;
  at::Tensor ObservationVariance(const ScoredForecast& scored) const;
  // c_b for a lead (1 until its bucket has scored enough values).
  double ConformalScale(double lead) const;
  // ν of the guard's F test for innovations whose sample variance comes from `samples` samples.
  double degrees_of_freedom(int64_t samples) const;

  // OK, or FAILED_PRECONDITION naming the first window that fails the
  // innovation test (its d², components and threshold); `when` goes into the
  // message. OK when the test is off.
  absl::Status CheckWindows(const ScoredForecast& scored, const char* when) const;
  // Per window d²_w and k_w ([W] each), as CheckWindows tests them.
  std::pair<at::Tensor, at::Tensor> WindowStatistics(const ScoredForecast& scored) const;
  // The threshold on d² for k observed components.
  double Threshold(int64_t components, int64_t samples) const;
  // Threshold of every scored point, from its observed components [N] (float64).
  std::vector<double> PointLimits(const at::Tensor& components, int64_t samples) const;
  // Share of observed values inside the observation interval at
  // coverage_level (with the conformal scales): what the model promised.
  double Coverage(const ScoredForecast& scored) const;
  // Updates q and the conformal scales from an accepted observation.
  void Learn(const ScoredForecast& scored);
  // Records an observation the innovation test refused before any update.
  // While the model has lost track (it refused at least 80% of the recent
  // scored observations), also learns from it as from an accepted one with
  // every point's innovation shrunk onto the test's limit — unless one is not
  // finite (a diverged sample) — true when it did. (The server publishes
  // the widened q with the next accepted update: a version's answers never
  // change.)
  bool LearnRefused(const ScoredForecast& scored);
  // Share of the recent scored observations (about twenty) that were refused.
  double refused_share() const { return refused_share_; }

  // The learned state, for checkpoints: N, D, q (raw, unclamped) and s as
  // [4, D], observations per component [D], scores seen, the conformal
  // scales by bucket and the refused share.
  struct State {
    at::Tensor moments;
    at::Tensor observed;
    int64_t scores = 0;
    std::map<int64_t, std::pair<double, int64_t>> conformal;  // bucket → (log c_b, values scored).
    double refused_share = 0.0;
  };
  State state() const;
  // INVALID_ARGUMENT when the state is of another state dimension or its
  // refused share is outside [0, 1].
  absl::Status Restore(State state);

 private:
  ForecastErrorModel(const ForecastErrorOptions& options, at::Tensor noise_variance);
  // Learn's body; a refused (clipped) observation leaves the weights' scale s alone.
  void LearnFrom(const ScoredForecast& scored, bool refused);

  ForecastErrorOptions options_;
  at::Tensor noise_variance_;  // [D]
  at::Tensor rate_;            // [D] q before clamping.
  at::Tensor numerator_;       // [D] N.
  at::Tensor denominator_;     // [D] D.
  at::Tensor scale_;           // [D] s, the weights' scale.
  at::Tensor observed_;        // [D] observations that observed each component.
  int64_t scores_ = 0;
  std::map<int64_t, std::pair<double, int64_t>> conformal_;
  double refused_share_ = 0.0;  // EMA of refusals over scored observations.
};

}  // namespace hybrid::solvers
