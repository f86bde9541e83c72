#include "solvers/uncertainty/forecast_error_model.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <boost/math/distributions/fisher_f.hpp>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "solvers/uncertainty/ensemble_stats.h"

namespace hybrid::solvers {
namespace {

// k · F⁻¹_{k, ν}(1 − α), remembered: Boost's inverse incomplete beta takes
// ~8 µs (k = 3, ν = 39, α = 1e-6), the guard asks for it for every scored
// point of every observation, and once ν saturates there are a handful of
// distinct (k, ν, α). Thread-safe; at most kMaxRemembered entries.
double ScaledFQuantile(int64_t k, double nu, double alpha) {
  constexpr size_t kMaxRemembered = 4096;
  static std::mutex mutex;
  static std::map<std::tuple<int64_t, double, double>, double> remembered;
  const auto key = std::make_tuple(k, nu, alpha);
  {
    const std::lock_guard<std::mutex> lock(mutex);
    if (const auto it = remembered.find(key); it != remembered.end()) return it->second;
  }
  const boost::math::fisher_f_distribution<double> f(static_cast<double>(k), nu);
  const double limit = static_cast<double>(k) * boost::math::quantile(boost::math::complement(f, alpha));
  const std::lock_guard<std::mutex> lock(mutex);
  if (remembered.size() >= kMaxRemembered) remembered.clear();
  remembered.emplace(key, limit);
  return limit;
}

constexpr double kPriorDof = 2.0;
constexpr double kPriorObservations = 2.0;  // The prior counts as this many observations in q.
constexpr double kVarianceFloor = 1e-18;  // (1e-9)²: below float64 forecasts' own rounding noise.
constexpr double kScaleWeight = 0.05;     // The weights' scale s follows about the last twenty observations.
constexpr int64_t kMaxDof = 1000;
constexpr int64_t kMinConformalScores = 50;  // A bucket's scale counts once it has seen this many values.
constexpr int64_t kBucketRange = 80;         // Half octaves each way: leads from 2^-40 to 2^40.
constexpr double kRefusalWeight = 0.05;      // The refused share follows about the last twenty scored observations.
// Refusing this share of recent observations means the model, not the data,
// is off: honest data fails the test with probability guard_false_alarm, and
// a glitching sensor between honest readings keeps the share near one half.
constexpr double kLostTrackShare = 0.8;

int64_t Bucket(double lead) {
  if (!(lead > 0.0)) return -kBucketRange;
  return std::clamp<int64_t>(std::lround(2.0 * std::log2(lead)), -kBucketRange, kBucketRange);
}

absl::Status InvalidField(const char* field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("uncertainty.", field, " ", why));
}

}  // namespace

absl::StatusOr<ForecastErrorModel> ForecastErrorModel::Create(const ForecastErrorOptions& o, int64_t state_dim) {
  const size_t given = o.observation_noise_std.size();
  if (given != 0 && given != 1 && given != static_cast<size_t>(state_dim)) {
    return InvalidField("observation_noise_std",
                        absl::StrCat("has ", given, " values; give 1 (every component) or ", state_dim));
  }
  std::vector<double> variance(static_cast<size_t>(state_dim), 0.0);
  for (size_t i = 0; i < given; ++i) {
    const double s = o.observation_noise_std[i];
    if (!(s >= 0.0) || !std::isfinite(s)) {
      return InvalidField("observation_noise_std", absl::StrCat("[", i, "] must be finite and ≥ 0, got ", s));
    }
  }
  for (size_t d = 0; d < variance.size() && given > 0; ++d) {
    const double s = o.observation_noise_std[given == 1 ? 0 : d];
    variance[d] = s * s;
  }
  if (!(o.initial_model_error_std > 0.0) || !std::isfinite(o.initial_model_error_std)) {
    return InvalidField("initial_model_error_std",
                        absl::StrCat("must be finite and > 0, got ", o.initial_model_error_std));
  }
  if (!(o.memory > 0.0 && o.memory <= 1.0)) {
    return InvalidField("model_error_memory", absl::StrCat("must be in (0, 1], got ", o.memory));
  }
  if (!(o.guard_false_alarm < 0.5) || std::isnan(o.guard_false_alarm)) {
    return InvalidField("guard_false_alarm", absl::StrCat("must be below 0.5 (≤ 0: off), got ", o.guard_false_alarm));
  }
  if (!(o.coverage_level > 0.0 && o.coverage_level < 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("calibration.coverage_level must be in (0, 1), got ", o.coverage_level));
  }
  if (!(o.conformal_gain >= 0.0 && o.conformal_gain <= 1.0)) {
    return InvalidField("conformal_gain", absl::StrCat("must be in [0, 1], got ", o.conformal_gain));
  }
  return ForecastErrorModel(o, at::tensor(variance, at::kDouble));
}

ForecastErrorModel::ForecastErrorModel(const ForecastErrorOptions& options, at::Tensor noise_variance)
    : options_(options),
      noise_variance_(std::move(noise_variance)),
      rate_(at::full_like(noise_variance_, options.initial_model_error_std * options.initial_model_error_std)),
      numerator_(at::zeros_like(noise_variance_)),
      denominator_(at::zeros_like(noise_variance_)),
      scale_(at::zeros_like(noise_variance_)),
      observed_(at::zeros_like(noise_variance_)) {}

at::Tensor ForecastErrorModel::model_error_rate() const { return rate_.clamp_min(0.0); }

at::Tensor ForecastErrorModel::ObservationVariance(const at::Tensor& sample_variance, const at::Tensor& lead) const {
  const at::Tensor tau = lead.to(at::kDouble);
  return at::clamp_min(sample_variance.to(at::kDouble) +
                           (tau.dim() == 0 ? tau : tau.unsqueeze(-1)) * model_error_rate() + noise_variance_,
                       kVarianceFloor);
}

at::Tensor ForecastErrorModel::ObservationVariance(const ScoredForecast& s) const {
  return ObservationVariance(s.sample_variance, s.lead);
}

double ForecastErrorModel::ConformalScale(double lead) const {
  auto it = conformal_.find(Bucket(lead));
  if (it == conformal_.end() || it->second.second < kMinConformalScores) return 1.0;
  return std::exp(it->second.first);
}

double ForecastErrorModel::degrees_of_freedom(int64_t samples) const {
  const double learned = kPriorDof + static_cast<double>(std::min(scores_, kMaxDof));
  return samples > 1 ? std::min(learned, static_cast<double>(samples - 1)) : learned;
}

double ForecastErrorModel::Threshold(int64_t components, int64_t samples) const {
  if (components <= 0) return std::numeric_limits<double>::infinity();
  return ScaledFQuantile(components, degrees_of_freedom(samples), options_.guard_false_alarm);
}

std::vector<double> ForecastErrorModel::PointLimits(const at::Tensor& components, int64_t samples) const {
  const at::Tensor k = components.contiguous();
  const double* k_values = k.data_ptr<double>();
  std::vector<double> limits(static_cast<size_t>(k.numel()));
  for (size_t i = 0; i < limits.size(); ++i) limits[i] = Threshold(static_cast<int64_t>(k_values[i]), samples);
  return limits;
}

std::pair<at::Tensor, at::Tensor> ForecastErrorModel::WindowStatistics(const ScoredForecast& s) const {
  const at::Tensor mask = s.mask.to(at::kDouble);
  const at::Tensor variance = ObservationVariance(s);
  const at::Tensor d2 = (mask * s.innovation.to(at::kDouble).pow(2) / variance).sum(-1);  // [N]
  return {d2, mask.sum(-1)};
}

absl::Status ForecastErrorModel::CheckWindows(const ScoredForecast& s, const char* when) const {
  if (options_.guard_false_alarm <= 0.0) return absl::OkStatus();
  const auto [d2, k] = WindowStatistics(s);
  // Each scored point on its own: points along one observed path share the
  // start's error, so their sum is no χ² of the summed components.
  const int64_t n = d2.size(0), per_window = std::max<int64_t>(1, n / std::max<int64_t>(1, s.windows));
  const at::Tensor d2_contiguous = d2.contiguous(), k_contiguous = k.contiguous();
  const double* d2_values = d2_contiguous.data_ptr<double>();
  const double* k_values = k_contiguous.data_ptr<double>();
  const std::vector<double> limits = PointLimits(k_contiguous, s.samples);
  for (int64_t i = 0; i < n; ++i) {
    const auto components = static_cast<int64_t>(k_values[i]);
    const double threshold = limits[static_cast<size_t>(i)];
    if (!(d2_values[i] <= threshold)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "divergence guard: window ", i / per_window, " of this observation ", when,
          " lies too far from what the "
          "model predicted for it (normalized innovation d² = ",
          d2_values[i], " over ", components, " observed components; the limit for a false-alarm probability of ",
          options_.guard_false_alarm, " is ", threshold, "); update rolled back"));
    }
  }
  return absl::OkStatus();
}

double ForecastErrorModel::Coverage(const ScoredForecast& s) const {
  const at::Tensor mask = s.mask.to(at::kDouble);
  const at::Tensor half_width = ObservationVariance(s).sqrt() * CentralZ(options_.coverage_level);
  std::vector<double> scales(static_cast<size_t>(s.lead.size(0)));
  const at::Tensor leads = s.lead.to(at::kDouble).contiguous();
  for (size_t i = 0; i < scales.size(); ++i) scales[i] = ConformalScale(leads.data_ptr<double>()[i]);
  const at::Tensor inside =
      (s.innovation.to(at::kDouble).abs() <= half_width * at::tensor(scales, at::kDouble).unsqueeze(-1))
          .to(at::kDouble);
  const double observed = mask.sum().item<double>();
  return observed > 0.0 ? (inside * mask).sum().item<double>() / observed : 0.0;
}

void ForecastErrorModel::Learn(const ScoredForecast& s) {
  refused_share_ *= 1.0 - kRefusalWeight;
  LearnFrom(s, /*refused=*/false);
}

bool ForecastErrorModel::LearnRefused(const ScoredForecast& s) {
  refused_share_ = (1.0 - kRefusalWeight) * refused_share_ + kRefusalWeight;
  if (refused_share_ < kLostTrackShare) return false;
  // Each point's innovation shrunk onto the test's limit: the model learns
  // that it misses by at least that much, and no reading, however wild,
  // counts for more.
  const auto [d2, k] = WindowStatistics(s);
  // A diverged forecast sample (an infinite or NaN innovation) has no limit
  // to shrink onto: counted, never learned from, or q would be NaN for good.
  if (!at::isfinite(d2).all().item<bool>()) return false;
  const at::Tensor limits = at::tensor(PointLimits(k, s.samples), at::kDouble);
  const at::Tensor shrink = at::clamp_max(at::sqrt(limits / d2.clamp_min(1e-300)), 1.0);
  ScoredForecast clipped = s;
  clipped.innovation = s.innovation.to(at::kDouble) * shrink.unsqueeze(-1);
  LearnFrom(clipped, /*refused=*/true);
  return true;
}

void ForecastErrorModel::LearnFrom(const ScoredForecast& s, bool refused) {
  const at::Tensor mask = s.mask.to(at::kDouble);
  const at::Tensor e2 = s.innovation.to(at::kDouble).pow(2);
  // Adaptive conformal inference per lead bucket: one aggregated step per
  // bucket and batch, each value scored against the interval the model
  // promised for it (its bucket's current scale, q before this update).
  const at::Tensor leads = s.lead.to(at::kDouble).contiguous();
  const int64_t n = leads.size(0);
  std::vector<double> scales(static_cast<size_t>(n));
  std::vector<int64_t> buckets(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    buckets[i] = Bucket(leads.data_ptr<double>()[i]);
    auto it = conformal_.find(buckets[i]);
    scales[i] = it == conformal_.end() ? 1.0 : std::exp(it->second.first);  // Learning uses c_b from the start.
  }
  const at::Tensor half_width =
      CentralZ(options_.coverage_level) * ObservationVariance(s).sqrt() * at::tensor(scales, at::kDouble).unsqueeze(-1);
  const at::Tensor misses = ((e2.sqrt() > half_width).to(at::kDouble) * mask).sum(-1).contiguous();
  const at::Tensor counts = mask.sum(-1).contiguous();
  std::map<int64_t, std::pair<double, double>> tally;  // bucket → (misses, values)
  for (int64_t i = 0; i < n; ++i) {
    tally[buckets[i]].first += misses.data_ptr<double>()[i];
    tally[buckets[i]].second += counts.data_ptr<double>()[i];
  }
  for (const auto& [bucket, t] : tally) {
    auto& [log_scale, scored] = conformal_[bucket];
    log_scale += options_.conformal_gain * (t.first - (1.0 - options_.coverage_level) * t.second);
    scored += static_cast<int64_t>(t.second);
  }
  const at::Tensor lead = s.lead.to(at::kDouble).unsqueeze(-1).expand_as(e2);
  // Each observation weighs 1 / s², s the recent mean squared innovation
  // (before this one: its noise does not set its own weight), as the inverse
  // variance of e²: misfits of a model still far from calibrated — orders of
  // magnitude above its later ones, and as much noisier — then count as
  // little as they deserve instead of dominating q for hundreds of observations.
  const at::Tensor count = mask.sum(0);
  const at::Tensor seen = count > 0;
  const at::Tensor mean_e2 = (mask * e2).sum(0) / count.clamp_min(1.0);
  scale_ = at::where(seen & (observed_ == 0), mean_e2, scale_);
  const at::Tensor omega = 1.0 / scale_.clamp_min(kVarianceFloor).pow(2);  // [D]
  // Not from refused windows: the scale of a model that lost track would
  // grow with its misses and weigh down the very observations that must
  // widen q.
  if (!refused) scale_ = at::where(seen, (1.0 - kScaleWeight) * scale_ + kScaleWeight * mean_e2, scale_);
  const at::Tensor excess = e2 - s.sample_variance.to(at::kDouble) - noise_variance_;
  at::Tensor numerator = omega * (mask * lead * excess).sum(0);  // [D]
  at::Tensor denominator = omega * (mask * lead * lead).sum(0);  // [D]
  // A running mean that starts from the prior (q0 at this observation's
  // weight) counted as kPriorObservations observations, then forgets at `memory`.
  const at::Tensor first = seen & (observed_ == 0);
  numerator_ = at::where(first, denominator * rate_, numerator_);
  denominator_ = at::where(first, denominator, denominator_);
  const at::Tensor weight = at::clamp_min(1.0 / (observed_ + 1.0 + kPriorObservations), options_.memory);
  numerator_ = at::where(seen, (1.0 - weight) * numerator_ + weight * numerator, numerator_);
  denominator_ = at::where(seen, (1.0 - weight) * denominator_ + weight * denominator, denominator_);
  rate_ = at::where(seen, numerator_ / denominator_.clamp_min(1e-300), rate_);
  observed_ = observed_ + seen.to(at::kDouble);

  scores_ += static_cast<int64_t>(mask.sum().item<double>());
}

ForecastErrorModel::State ForecastErrorModel::state() const {
  return {at::stack({numerator_, denominator_, rate_, scale_}), observed_.clone(), scores_, conformal_, refused_share_};
}

absl::Status ForecastErrorModel::Restore(State state) {
  if (!state.moments.defined() || !state.observed.defined() || state.moments.dim() != 2 || state.moments.size(0) != 4 ||
      state.moments.size(1) != rate_.size(0) || state.observed.sizes() != observed_.sizes()) {
    return absl::InvalidArgumentError("calibrator state: the forecast error model has another state dimension");
  }
  if (!(state.refused_share >= 0.0 && state.refused_share <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("calibrator state: errors.refused_share must be in [0, 1], got ", state.refused_share));
  }
  const at::Tensor moments = state.moments.to(at::kDouble);
  numerator_ = moments[0].clone();
  denominator_ = moments[1].clone();
  rate_ = moments[2].clone();
  scale_ = moments[3].clone();
  observed_ = state.observed.to(at::kDouble).clone();
  scores_ = state.scores;
  conformal_ = std::move(state.conformal);
  refused_share_ = state.refused_share;
  return absl::OkStatus();
}

}  // namespace hybrid::solvers
