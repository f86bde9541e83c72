#include "solvers/online_calibrator.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "solvers/black_box_physics.h"
#include "solvers/ensemble_kalman.h"
#include "solvers/ensemble_stats.h"
#include "solvers/torch_status.h"

namespace hybrid::solvers {
namespace {

constexpr double kResidualEmaWeight = 0.02;

bool Finite(const at::Tensor& t) { return at::isfinite(t).all().item<bool>(); }

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
           Positive(o.initial_residual_std, "initial_residual_std"),
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
absl::StatusOr<at::Tensor> Solve(const char* what, F&& work) {
  try {
    return work();
  } catch (const SolverFailure& e) {
    return absl::FailedPreconditionError(absl::StrCat(what, " failed: ", e.what()));
  }
}

}  // namespace

// Everything an update changes, for rollback. Adam's state is deep-copied: its
// step mutates the moment tensors in place.
struct OnlineCalibrator::Saved {
  std::vector<at::Tensor> parameters;
  std::map<std::string, torch::optim::AdamParamState> adam;
};

absl::StatusOr<std::unique_ptr<OnlineCalibrator>> OnlineCalibrator::Create(std::shared_ptr<HybridModel> model,
                                                                           const CalibratorOptions& options) {
  if (absl::Status s = ValidateOptions(*model, options); !s.ok()) return s;
  return std::unique_ptr<OnlineCalibrator>(new OnlineCalibrator(std::move(model), options));
}

OnlineCalibrator::OnlineCalibrator(std::shared_ptr<HybridModel> model, const CalibratorOptions& options)
    : model_(std::move(model)),
      options_(options),
      guard_(options.guard),
      replay_(options.replay_capacity, options.seed + 101),
      generator_(at::detail::createCPUGenerator(options.seed + 103)) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto add_group = [&](std::vector<at::Tensor> params, double lr) {
    if (params.empty()) return;
    groups.emplace_back(std::move(params), std::make_unique<torch::optim::AdamOptions>(lr));
  };
  if (!options_.theta_ensemble_kalman) add_group(model_->ThetaParameters(), options_.learning_rate_theta);
  add_group(model_->PhiParameters(), options_.learning_rate_phi);
  if (!groups.empty()) {
    optimizer_ = std::make_unique<torch::optim::Adam>(std::move(groups), torch::optim::AdamOptions());
  }
  residual_variance_ = at::full({model_->state_dim()}, options_.initial_residual_std * options_.initial_residual_std,
                                at::TensorOptions().dtype(model_->dtype()));
  observed_count_ = at::zeros({model_->state_dim()}, at::TensorOptions().dtype(at::kDouble));
}

OnlineCalibrator::~OnlineCalibrator() = default;

OnlineCalibrator::Saved OnlineCalibrator::Save() const {
  Saved saved;
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

void OnlineCalibrator::Restore(const Saved& saved) {
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
    if (!Finite(p))
      return absl::FailedPreconditionError("divergence guard: a parameter became non-finite; update rolled back");
  }
  const ScientificModel& physics = model_->physics();
  for (size_t i = 0; i < physics.specs().size(); ++i) {
    const ParameterSpec& spec = physics.specs()[i];
    const at::Tensor value = physics.Value(i);
    const double lo = value.min().item<double>(), hi = value.max().item<double>();
    if (lo < spec.lower || hi > spec.upper) {
      return absl::FailedPreconditionError(absl::StrCat("divergence guard: the update moved ", spec.name, " to [", lo,
                                                        ", ", hi, "], outside its bounds [", spec.lower, ", ",
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
  optimizer_->zero_grad();
  loss.backward();
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
  optimizer_->step();
  return norm;
}

void OnlineCalibrator::KalmanStep(const WindowBatch& train, const at::Tensor& path) {
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
  const at::Tensor sigma_d = options_.kalman_observation_std > 0.0
                                 ? at::full_like(residual_variance_, options_.kalman_observation_std)
                                 : residual_variance_.sqrt();
  const at::Tensor sigma = sigma_d.expand_as(target).masked_select(observed);
  std::vector<at::Tensor> columns;
  for (const at::Tensor& r : raw) columns.push_back(r.detach().to(at::kDouble));
  const at::Tensor theta = at::stack(columns, 1);  // [M, P]
  const at::Tensor updated = EnsembleKalmanUpdate(theta, p, y, sigma, options_.kalman_inflation, generator_);
  for (size_t j = 0; j < raw.size(); ++j) raw[j].copy_(updated.select(1, static_cast<int64_t>(j)));
}

void OnlineCalibrator::AfterAccepted(const WindowBatch& batch, const at::Tensor& mean_prediction) {
  at::NoGradGuard no_grad;
  // Per component: mean squared error of the ensemble mean over the windows that observed it.
  const at::Tensor mask = batch.mask.defined() ? batch.mask.to(batch.end.scalar_type()) : at::ones_like(batch.end);
  const at::Tensor counts = mask.sum(0).to(at::kDouble);                            // [D]
  const at::Tensor squared = ((mean_prediction - batch.end).pow(2) * mask).sum(0);  // [D]
  const at::Tensor batch_variance = squared / counts.clamp_min(1.0).to(squared.scalar_type());
  const at::Tensor weight =
      at::clamp_min(1.0 / (observed_count_ + 1.0), kResidualEmaWeight).to(residual_variance_.scalar_type());
  const at::Tensor seen = counts > 0;
  residual_variance_ =
      at::where(seen, (1.0 - weight) * residual_variance_ + weight * batch_variance, residual_variance_);
  observed_count_ = observed_count_ + seen.to(at::kDouble);
  replay_.Add(batch);
  ++accepted_;
  if (optimizer_ && options_.lr_decay_every > 0 && accepted_ % options_.lr_decay_every == 0) {
    for (auto& group : optimizer_->param_groups()) {
      auto& adam = static_cast<torch::optim::AdamOptions&>(group.options());
      adam.lr(adam.lr() * options_.lr_decay);
    }
  }
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
  const at::Tensor incoming = incoming_path.select(2, -1);               // [M, W, D]
  result.loss = BatchMse(incoming_path, batch).item<double>();
  if (!std::isfinite(result.loss)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "calibration loss is not finite (", result.loss, "): the model's forecast of the window (steps = ", batch.steps,
        " of step = ", batch.step, ") diverged; use a smaller step or fewer steps; update skipped"));
  }
  if (absl::Status s = guard_.Check(result.loss, "of this batch before the update"); !s.ok()) {
    ++rollbacks_;
    return s;
  }

  // Score the data against what the model predicted before seeing it.
  const EnsembleSummary summary = SummarizeEnsemble(incoming, residual_variance_, {options_.coverage_level});
  const at::Tensor inside = ((batch.end >= summary.lower[0]) & (batch.end <= summary.upper[0])).to(at::kDouble);
  result.coverage =
      batch.mask.defined()
          ? ((inside * batch.mask.to(at::kDouble)).sum() / batch.mask.to(at::kDouble).sum()).item<double>()
          : inside.mean().item<double>();

  const Saved saved = Save();
  absl::StatusOr<double> norm = GradientStep(train, *path);
  if (!norm.ok()) return norm.status();  // Nothing was applied.
  result.gradient_norm = *norm;
  if (options_.theta_ensemble_kalman) KalmanStep(train, path->detach());

  absl::Status after = CheckParameters();
  if (after.ok()) {
    absl::StatusOr<at::Tensor> post = Solve("forecasting the window after the update", [&] {
      return ForecastPath(*model_, batch.start, batch.step, batch.steps);
    });
    after = post.ok() ? guard_.Check(BatchMse(*post, batch).item<double>(), "after the update") : post.status();
  }
  if (!after.ok()) {
    Restore(saved);
    ++rollbacks_;
    return after;
  }
  guard_.Record(result.loss);
  AfterAccepted(batch, summary.mean);
  return result;
}

}  // namespace hybrid::solvers
