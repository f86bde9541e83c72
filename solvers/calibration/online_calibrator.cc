#include "solvers/calibration/online_calibrator.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "solvers/black_box/black_box_physics.h"
#include "solvers/calibration/ensemble_kalman.h"
#include "solvers/torch_status.h"
#include "solvers/training/theta_phi_adam.h"
#include "solvers/uncertainty/perturbed_forecast.h"

namespace hybrid::solvers {
namespace {

// Smallest and largest entry of t and whether every entry is finite, in one
// pass over a CPU float64 view (no copy for the usual CPU float64
// parameter): per tensor, LibTorch's isfinite/all/min/max and their .item()
// took more time than the values themselves (~5% of a Lorenz-63 update).
struct Extent {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  bool finite = true;
};

Extent ExtentOf(const at::Tensor& t) {
  const at::Tensor values = t.detach().to(at::kCPU, at::kDouble).contiguous();
  const double* v = values.data_ptr<double>();
  Extent e;
  for (int64_t i = 0, n = values.numel(); i < n; ++i) {
    e.finite = e.finite && std::isfinite(v[i]);
    e.lo = std::min(e.lo, v[i]);
    e.hi = std::max(e.hi, v[i]);
  }
  return e;
}

absl::Status Positive(double v, const char* field) {
  if (v > 0.0 && std::isfinite(v)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("calibration.", field, " must be > 0, got ", v));
}

absl::Status InRange(double v, double lo, double hi, const char* field) {
  if (v >= lo && v <= hi) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("calibration.", field, " must be in [", lo, ", ", hi, "], got ", v));
}

absl::Status ValidateOptions(const HybridModel& model, const CalibratorOptions& o) {
  for (absl::Status s : {
           Positive(o.learning_rate_theta, "learning_rate_theta"),
           Positive(o.learning_rate_phi, "learning_rate_phi"),
           InRange(o.correction_penalty, 0.0, 1e12, "correction_penalty"),
           InRange(o.coverage_level, 1e-9, 1.0 - 1e-9, "coverage_level"),
           InRange(static_cast<double>(o.samples_per_member), 1.0, 1024.0, "samples_per_member"),
           InRange(o.lr_decay, 1e-9, 1.0, "lr_decay"),
           InRange(static_cast<double>(o.lr_decay_every), 0.0, 1e12, "lr_decay_every"),
           InRange(o.clip_norm, 0.0, 1e300, "clip_norm"),
           InRange(o.kalman_observation_std, 0.0, 1e300, "kalman_observation_std"),
           InRange(o.kalman_inflation, 1.0, 2.0, "kalman_inflation"),
           InRange(static_cast<double>(o.replay_capacity), 0.0, 1e6, "replay_capacity"),
           InRange(static_cast<double>(o.replay_batch), 0.0, 1024.0, "replay_batch"),
           InRange(o.guard.loss_ratio, 0.0, 1e300, "guard_loss_ratio"),
           InRange(static_cast<double>(o.guard.warmup), 0.0, 1e9, "guard_warmup"),
           InRange(static_cast<double>(o.guard.window), 1.0, 1e6, "guard_window"),
       }) {
    if (!s.ok()) return s;
  }
  if (o.replay_batch > 0 && o.replay_capacity == 0) {
    return absl::InvalidArgumentError("calibration.replay_batch needs calibration.replay_capacity > 0");
  }
  if (absl::Status s = CheckGradientMethod(model, o.gradient); !s.ok()) return s;
  const bool theta_trainable = !model.ThetaParameters().empty();
  if (o.theta_ensemble_kalman && theta_trainable && model.members() < 2) {
    return absl::InvalidArgumentError(
        "calibration.theta_update: the ensemble Kalman update needs ensemble_members >= 2 (its ensemble)");
  }
  if (model.black_box() != nullptr && theta_trainable && !o.theta_ensemble_kalman) {
    return absl::InvalidArgumentError(absl::StrCat(
        "calibration.theta_update: the parameters of black-box physics '", model.black_box()->step().name(),
        "' have no gradient; use ENSEMBLE_KALMAN (or make them not trainable)"));
  }
  return absl::OkStatus();
}

WindowBatch Concat(const WindowBatch& a, const WindowBatch& b) {
  WindowBatch out = a;
  out.start = at::cat({a.start, b.start});
  out.end = at::cat({a.end, b.end});
  if (a.path.defined()) out.path = at::cat({a.path, b.path});  // The replay matched a's shape.
  if (a.mask.defined() || b.mask.defined()) {
    out.mask =
        at::cat({a.mask.defined() ? a.mask : at::ones_like(a.end), b.mask.defined() ? b.mask : at::ones_like(b.end)});
  }
  return out;
}

// A physics solver that fails (a black-box step's error, a non-finite state)
// is FAILED_PRECONDITION: the data drove it there, not a server fault.
template <typename F>
auto Solve(const char* what, F&& work) -> absl::StatusOr<decltype(work())> {
  try {
    return work();
  } catch (const SolverFailure& e) {
    return absl::FailedPreconditionError(absl::StrCat(what, " failed: ", e.what()));
  }
}

// The batch's observed values against forecast samples [S, W, n, D]: every
// observed path point when the batch has a path, else the end states; rows
// window-major. The sample variance is 0 for a single sample.
ScoredForecast ScorePoints(const at::Tensor& samples, const WindowBatch& batch) {
  const int64_t w = batch.start.size(0), n = batch.steps, d = batch.start.size(1);
  const bool path = batch.path.defined();
  const at::Tensor target = path ? batch.path : batch.end.unsqueeze(1);  // [W, L, D]
  const at::Tensor forecast = path ? samples : samples.narrow(2, n - 1, 1);
  const int64_t points = target.size(1);
  ScoredForecast s;
  s.windows = w;
  s.samples = samples.size(0);
  s.innovation = (target - forecast.mean(0)).reshape({w * points, d}).to(at::kDouble);
  s.sample_variance = forecast.size(0) > 1 ? forecast.var(0, /*unbiased=*/true).reshape({w * points, d}).to(at::kDouble)
                                           : at::zeros({w * points, d}, at::TensorOptions().dtype(at::kDouble));
  s.mask = (batch.mask.defined() ? batch.mask.unsqueeze(1).expand({w, points, d}) : at::ones_like(target))
               .reshape({w * points, d})
               .to(at::kDouble);
  const at::Tensor steps = path ? at::arange(1, n + 1, at::TensorOptions().dtype(at::kDouble))
                                : at::full({1}, static_cast<double>(n), at::TensorOptions().dtype(at::kDouble));
  s.lead = (steps * batch.step).repeat({w});
  return s;
}

// `scored` with the innovations of `other` (its variance and leads kept).
ScoredForecast Rescored(ScoredForecast scored, const ScoredForecast& other) {
  scored.innovation = other.innovation;
  return scored;
}

}  // namespace

// Everything an update changes, for the guard's undo. Adam's state is deep-copied: its
// step mutates the moment tensors in place.
struct OnlineCalibrator::UndoPoint {
  std::vector<at::Tensor> parameters;
  std::map<std::string, torch::optim::AdamParamState> adam;
};

absl::StatusOr<std::unique_ptr<OnlineCalibrator>> OnlineCalibrator::Create(std::shared_ptr<HybridModel> model,
                                                                           const CalibratorOptions& options) {
  if (absl::Status s = ValidateOptions(*model, options); !s.ok()) return s;
  ForecastErrorOptions errors = options.errors;
  errors.coverage_level = options.coverage_level;
  absl::StatusOr<ForecastErrorModel> error_model = ForecastErrorModel::Create(errors, model->state_dim());
  if (!error_model.ok()) return error_model.status();
  return std::unique_ptr<OnlineCalibrator>(new OnlineCalibrator(std::move(model), options, *std::move(error_model)));
}

OnlineCalibrator::OnlineCalibrator(std::shared_ptr<HybridModel> model, const CalibratorOptions& options,
                                   ForecastErrorModel errors)
    : model_(std::move(model)),
      options_(options),
      errors_(std::move(errors)),
      guard_(options.guard),
      replay_(options.replay_capacity, options.seed + 101),
      generator_(at::detail::createCPUGenerator(options.seed + 103)) {
  // θ by ensemble Kalman: only φ is a gradient's.
  optimizer_ = MakeThetaPhiAdam(
      *model_, options_.theta_ensemble_kalman ? std::nullopt : std::optional<double>(options_.learning_rate_theta),
      options_.learning_rate_phi);
}

OnlineCalibrator::~OnlineCalibrator() = default;

OnlineCalibrator::UndoPoint OnlineCalibrator::MarkUndoPoint() const {
  UndoPoint saved;
  for (const at::Tensor& p : model_->parameters()) saved.parameters.push_back(p.detach().clone());
  if (optimizer_) {
    for (const auto& [key, state] : optimizer_->state()) {
      const auto& adam = static_cast<const torch::optim::AdamParamState&>(*state);
      torch::optim::AdamParamState copy;
      copy.step(adam.step());
      copy.exp_avg(adam.exp_avg().clone());
      copy.exp_avg_sq(adam.exp_avg_sq().clone());
      if (adam.max_exp_avg_sq().defined()) copy.max_exp_avg_sq(adam.max_exp_avg_sq().clone());
      saved.adam.emplace(key, std::move(copy));
    }
  }
  return saved;
}

void OnlineCalibrator::UndoTo(const UndoPoint& saved) {
  at::NoGradGuard no_grad;
  const std::vector<at::Tensor> parameters = model_->parameters();
  for (size_t i = 0; i < parameters.size(); ++i) parameters[i].copy_(saved.parameters[i]);
  if (optimizer_) {
    optimizer_->zero_grad();
    optimizer_->state().clear();
    for (const auto& [key, state] : saved.adam) {
      optimizer_->state()[key] = std::make_unique<torch::optim::AdamParamState>(state);
    }
  }
}

absl::Status OnlineCalibrator::CheckParameters() const {
  for (const at::Tensor& p : model_->parameters()) {
    if (!ExtentOf(p).finite)
      return absl::FailedPreconditionError("divergence guard: a parameter became non-finite; update rolled back");
  }
  const ScientificModel& physics = model_->physics();
  for (size_t i = 0; i < physics.specs().size(); ++i) {
    const ParameterSpec& spec = physics.specs()[i];
    const Extent e = ExtentOf(physics.Value(i));
    if (!e.finite) {  // A finite raw value can overflow (a positive parameter is exp(raw)).
      return absl::FailedPreconditionError(
          absl::StrCat("divergence guard: the update made ", spec.name, " non-finite; update rolled back"));
    }
    if (e.lo < spec.lower || e.hi > spec.upper) {
      return absl::FailedPreconditionError(absl::StrCat("divergence guard: the update moved ", spec.name, " to [", e.lo,
                                                        ", ", e.hi, "], outside its bounds [", spec.lower, ", ",
                                                        spec.upper, "]; update rolled back"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<double> OnlineCalibrator::GradientStep(const WindowBatch& train, const at::Tensor& path) {
  if (!optimizer_ || !path.requires_grad()) return 0.0;
  at::Tensor loss = BatchMse(path, train);
  if (options_.correction_penalty > 0.0 && model_->has_correction()) {
    const at::Tensor x0 =
        train.start.unsqueeze(0).expand({model_->members(), train.start.size(0), train.start.size(1)});
    loss = loss + options_.correction_penalty * model_->Correction(x0).pow(2).sum(-1).mean();
  }
  absl::StatusOr<double> norm = Backward(loss, {});
  if (norm.ok()) optimizer_->step();
  return norm;
}

absl::StatusOr<double> OnlineCalibrator::Backward(const at::Tensor& loss, const std::vector<at::Tensor>& frozen) {
  optimizer_->zero_grad();
  loss.backward();
  for (const at::Tensor& f : frozen) {
    if (f.grad().defined()) f.mutable_grad() = at::Tensor();  // Adam skips it, moments untouched.
  }
  std::vector<at::Tensor> with_grad;
  for (auto& group : optimizer_->param_groups()) {
    for (const at::Tensor& p : group.params()) {
      if (p.grad().defined()) with_grad.push_back(p);
    }
  }
  double squared = 0.0;
  for (const at::Tensor& p : with_grad) squared += p.grad().pow(2).sum().item<double>();
  const double norm = std::sqrt(squared);
  if (!std::isfinite(norm)) {
    optimizer_->zero_grad();
    return absl::FailedPreconditionError("calibration gradient is not finite; update skipped");
  }
  if (options_.clip_norm > 0.0) torch::nn::utils::clip_grad_norm_(with_grad, options_.clip_norm);
  return norm;
}

absl::StatusOr<double> OnlineCalibrator::BackwardOnLoss(const at::Tensor& loss, const std::vector<at::Tensor>& frozen) {
  if (!optimizer_ || !loss.requires_grad()) return 0.0;
  at::AutoGradMode grad_mode(true);
  return Backward(loss, frozen);
}

absl::Status OnlineCalibrator::StepHeldGradient() {
  if (!optimizer_) return absl::OkStatus();
  const UndoPoint saved = MarkUndoPoint();
  optimizer_->step();
  optimizer_->zero_grad();
  if (absl::Status s = CheckParameters(); !s.ok()) {
    UndoTo(saved);
    ++reverted_updates_;
    return s;
  }
  ++accepted_;  // Windows and reports alike count towards the learning-rate schedule.
  DecayLearningRates(*optimizer_, accepted_, options_.lr_decay_every, options_.lr_decay);
  return absl::OkStatus();
}

void OnlineCalibrator::DiscardHeldGradient() {
  if (optimizer_) optimizer_->zero_grad();
}

void OnlineCalibrator::KalmanStep(const WindowBatch& train, const at::Tensor& path, const at::Tensor& sigma_d) {
  std::vector<at::Tensor> raw = model_->physics().TrainableRaw();
  if (raw.empty()) return;
  at::NoGradGuard no_grad;
  const int64_t m = model_->members();
  // Observed values only (the whole path when there is one), flattened: [M, Q].
  const at::Tensor target = train.path.defined() ? train.path : train.end.unsqueeze(1);  // [W, n or 1, D]
  const at::Tensor forecast = train.path.defined() ? path : path.narrow(2, path.size(2) - 1, 1);
  const at::Tensor observed = (train.mask.defined() ? train.mask.unsqueeze(1) : at::ones_like(train.end).unsqueeze(1))
                                  .to(at::kBool)
                                  .expand_as(target);
  const at::Tensor y = target.masked_select(observed);
  const at::Tensor p = forecast.masked_select(observed.unsqueeze(0)).view({m, -1});
  const at::Tensor sigma = sigma_d.to(target.scalar_type()).expand_as(target).masked_select(observed);
  std::vector<at::Tensor> columns;
  for (const at::Tensor& r : raw) columns.push_back(r.detach().to(at::kDouble));
  const at::Tensor theta = at::stack(columns, 1);  // [M, P]
  const at::Tensor updated = EnsembleKalmanUpdate(theta, p, y, sigma, options_.kalman_inflation, generator_);
  for (size_t j = 0; j < raw.size(); ++j) raw[j].copy_(updated.select(1, static_cast<int64_t>(j)));
}

ScoredForecast OnlineCalibrator::Score(const WindowBatch& batch) {
  at::NoGradGuard no_grad;
  const at::Tensor noise_std = errors_.noise_variance().sqrt().to(model_->dtype());
  return ScorePoints(
      WindowSamples(*model_, batch.start, batch.step, batch.steps, noise_std, options_.samples_per_member, generator_),
      batch);
}

at::Tensor OnlineCalibrator::KalmanNoise(const ScoredForecast& scored, const ScoredForecast& members) const {
  if (options_.kalman_observation_std > 0.0) {
    return at::full({model_->state_dim()}, options_.kalman_observation_std, at::TensorOptions().dtype(at::kDouble));
  }
  // Γ is what the members' θ cannot explain: the predicted variance less their own spread.
  const at::Tensor mask = scored.mask.to(at::kDouble);
  const at::Tensor beyond = at::clamp_min(errors_.ObservationVariance(scored) - members.sample_variance, 0.0);
  const at::Tensor variance = (beyond * mask).sum(0) / mask.sum(0).clamp_min(1.0);
  return at::clamp_min(variance, 1e-12).sqrt();
}

void OnlineCalibrator::AfterAccepted(const WindowBatch& batch, const ScoredForecast& scored) {
  at::NoGradGuard no_grad;
  errors_.Learn(scored);
  replay_.Add(batch);
  ++accepted_;
  if (optimizer_) DecayLearningRates(*optimizer_, accepted_, options_.lr_decay_every, options_.lr_decay);
}

absl::StatusOr<CalibrationStep> OnlineCalibrator::Update(const WindowBatch& batch) {
  const int64_t windows = batch.start.size(0);
  WindowBatch train = batch;
  CalibrationStep result;
  if (options_.replay_batch > 0) {
    if (std::optional<WindowBatch> extra =
            replay_.Sample(options_.replay_batch, batch.step, batch.steps, batch.path.defined())) {
      train = Concat(batch, *extra);
      result.replayed = extra->start.size(0);
    }
  }
  absl::StatusOr<at::Tensor> path = Solve("forecasting the window", [&] {
    return RolloutPathForGradient(*model_, train.start, train.step, train.steps, options_.gradient, generator_);
  });
  if (!path.ok()) return path.status();
  const at::Tensor incoming_path = path->slice(1, 0, windows).detach();  // [M, W, n, D]
  result.loss = BatchMse(incoming_path, batch).item<double>();
  if (!std::isfinite(result.loss)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "calibration loss is not finite (", result.loss, "): the model's forecast of the window (steps = ", batch.steps,
        " of step = ", batch.step, ") diverged; use a smaller step or fewer steps; update skipped"));
  }
  // What the model predicted for these windows before seeing them, start uncertainty included.
  absl::StatusOr<ScoredForecast> scored = Solve("scoring the window", [&] { return Score(batch); });
  if (!scored.ok()) return scored.status();
  absl::Status before = guard_.Check(result.loss, "of this batch before the update");
  if (before.ok()) {
    before = errors_.CheckWindows(*scored, "before the update");
    if (!before.ok()) {
      at::NoGradGuard no_grad;
      errors_.LearnRefused(*scored);  // A model that lost track widens q; see forecast_error_model.h.
    }
  }
  if (!before.ok()) {
    ++reverted_updates_;
    return before;
  }
  result.coverage = errors_.Coverage(*scored);

  const UndoPoint saved = MarkUndoPoint();
  absl::StatusOr<double> norm = GradientStep(train, *path);
  if (!norm.ok()) return norm.status();  // Nothing was applied.
  result.gradient_norm = *norm;
  if (options_.theta_ensemble_kalman) {
    KalmanStep(train, path->detach(), KalmanNoise(*scored, ScorePoints(incoming_path, batch)));
  }

  absl::Status after = CheckParameters();
  if (after.ok()) {
    absl::StatusOr<at::Tensor> post = Solve("forecasting the window after the update", [&] {
      return ForecastPath(*model_, batch.start, batch.step, batch.steps);
    });
    if (!post.ok()) {
      after = post.status();
    } else {
      after = guard_.Check(BatchMse(*post, batch).item<double>(), "after the update");
      // The updated members' forecast against what the model predicted: an update must not jump away.
      if (after.ok()) after = errors_.CheckWindows(Rescored(*scored, ScorePoints(*post, batch)), "after the update");
    }
  }
  if (!after.ok()) {
    UndoTo(saved);
    ++reverted_updates_;
    return after;
  }
  guard_.Record(result.loss);
  AfterAccepted(batch, *scored);
  return result;
}

}  // namespace hybrid::solvers
