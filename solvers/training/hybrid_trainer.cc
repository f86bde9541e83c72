#include "solvers/training/hybrid_trainer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/utils/clip_grad.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "solvers/hybrid/trajectory_rollout.h"
#include "solvers/training/theta_phi_adam.h"

namespace hybrid::solvers {
namespace {

using Clock = std::chrono::steady_clock;

absl::Status CheckOptions(const TrainerOptions& o) {
  auto positive = [](double v) { return v > 0.0 && std::isfinite(v); };
  if (o.iterations < 1) return absl::InvalidArgumentError("trainer.iterations must be ≥ 1");
  if (o.batch_size < 1) return absl::InvalidArgumentError("trainer.batch_size must be ≥ 1");
  if (o.window_length < 0) return absl::InvalidArgumentError("trainer.window_length must be ≥ 0");
  if (o.substeps < 1) return absl::InvalidArgumentError("trainer.substeps must be ≥ 1");
  if (!positive(o.learning_rate_theta)) return absl::InvalidArgumentError("trainer.learning_rate_theta must be > 0");
  if (!positive(o.learning_rate_phi)) return absl::InvalidArgumentError("trainer.learning_rate_phi must be > 0");
  if (o.lr_decay_every < 0) return absl::InvalidArgumentError("trainer.lr_decay_every must be ≥ 0");
  if (!positive(o.lr_decay_factor)) return absl::InvalidArgumentError("trainer.lr_decay_factor must be > 0");
  if (!(o.gradient_clip >= 0.0)) return absl::InvalidArgumentError("trainer.gradient_clip must be ≥ 0");
  if (o.validate_every < 1) return absl::InvalidArgumentError("trainer.validate_every must be ≥ 1");
  if (o.patience < 0) return absl::InvalidArgumentError("trainer.patience must be ≥ 0");
  return absl::OkStatus();
}

std::string Duration(double seconds) {
  const auto s = static_cast<int64_t>(std::llround(seconds));
  return s >= 60 ? absl::StrFormat("%dm%02ds", s / 60, s % 60) : absl::StrFormat("%ds", s);
}

using ParameterCopy = std::map<std::string, at::Tensor>;

ParameterCopy CopyParameters(const HybridModel& model) {
  ParameterCopy copy;
  for (const auto& item : model.named_parameters(/*recurse=*/true)) copy[item.key()] = item.value().detach().clone();
  return copy;
}

void RestoreParameters(HybridModel& model, const ParameterCopy& copy) {
  at::NoGradGuard no_grad;
  for (auto& item : model.named_parameters(/*recurse=*/true)) item.value().copy_(copy.at(item.key()));
}

bool GradientsFinite(const std::vector<at::Tensor>& params) {
  for (const at::Tensor& p : params) {
    if (p.grad().defined() && !at::isfinite(p.grad()).all().item<bool>()) return false;
  }
  return true;
}

}  // namespace

std::string FormatProgress(const TrainingProgress& p) {
  std::string line = absl::StrFormat("it %d/%d  loss %.3e  val %.3e (best %.3e)", p.iteration, p.iterations,
                                     p.train_loss, p.validation_mse, p.best_validation_mse);
  if (p.lambda != 1.0) absl::StrAppendFormat(&line, "  lambda %.3g", p.lambda);
  for (const auto& [name, value] : p.theta) absl::StrAppendFormat(&line, "  %s=%.5g", name, value);
  absl::StrAppend(&line, "  elapsed ", Duration(p.elapsed_s), "  eta ", Duration(p.eta_s));
  return line;
}

std::vector<std::pair<std::string, double>> TrainableTheta(const HybridModel& model) {
  std::vector<std::pair<std::string, double>> theta;
  if (model.composition() == Composition::kNetworkOnly) return theta;
  const ScientificModel& physics = model.physics();
  for (size_t i = 0; i < physics.specs().size(); ++i) {
    if (physics.IsTrainable(i)) theta.emplace_back(physics.specs()[i].name, physics.Value(i).mean().item<double>());
  }
  return theta;
}

absl::StatusOr<WindowSet> MakeWindows(const TrajectoryData& data, int64_t length) {
  if (!data.states.defined() || data.states.dim() != 3) {
    return absl::InvalidArgumentError("states must be [sequences, times, components]");
  }
  const int64_t n = data.states.size(0);
  const int64_t t = data.states.size(1);
  if (n < 1 || t < 2) return absl::InvalidArgumentError("states needs ≥ 1 sequence of ≥ 2 observations");
  if (length == 0) return WindowSet{data.states.select(1, 0), data.states.narrow(1, 1, t - 1)};
  if (length >= t) {
    return absl::InvalidArgumentError(
        absl::StrCat("window_length ", length, " must be < the ", t, " observations per sequence"));
  }
  // unfold: [N, T−L, D, L+1] — every start j with its next L observations.
  const at::Tensor windows = data.states.unfold(1, length + 1, 1).permute({0, 1, 3, 2}).reshape({-1, length + 1,
                                                                                                 data.states.size(2)});
  return WindowSet{windows.select(1, 0).contiguous(), windows.narrow(1, 1, length).contiguous()};
}

at::Tensor ForecastWindows(HybridModel& model, const WindowSet& windows, double dt, int64_t substeps,
                           int64_t dropout_samples) {
  TORCH_CHECK(dropout_samples >= 1, "ForecastWindows: dropout_samples must be >= 1, got ", dropout_samples);
  at::NoGradGuard no_grad;
  if (dropout_samples == 1 || model.spec().dropout == 0.0) {
    model.eval();
    return RolloutTrajectory(model, windows.start, dt, windows.targets.size(1), substeps);
  }
  model.train(true);  // Dropout active; nothing else in the model depends on the mode.
  std::vector<at::Tensor> passes;
  for (int64_t s = 0; s < dropout_samples; ++s) {
    passes.push_back(RolloutTrajectory(model, windows.start, dt, windows.targets.size(1), substeps));
  }
  model.eval();
  return at::cat(passes, 0);
}

namespace {

// Windows of both sets; INVALID_ARGUMENT naming the set or the mismatch.
absl::StatusOr<std::pair<WindowSet, WindowSet>> TrainingWindows(const HybridModel& model, const TrajectoryData& train,
                                                                const TrajectoryData& validation,
                                                                const TrainerOptions& options) {
  if (!(train.dt > 0.0)) return absl::InvalidArgumentError("train.dt must be > 0");
  for (const auto* data : {&train, &validation}) {
    if (data->states.defined() && data->states.dim() == 3 && data->states.size(2) != model.state_dim()) {
      return absl::InvalidArgumentError(absl::StrCat("states have ", data->states.size(2), " components, the model ",
                                                     model.state_dim()));
    }
  }
  absl::StatusOr<WindowSet> train_windows = MakeWindows(train, options.window_length);
  if (!train_windows.ok()) return absl::InvalidArgumentError(absl::StrCat("train: ", train_windows.status().message()));
  absl::StatusOr<WindowSet> val_windows = MakeWindows(validation, options.window_length);
  if (!val_windows.ok()) return absl::InvalidArgumentError(absl::StrCat("validation: ", val_windows.status().message()));
  return std::make_pair(*std::move(train_windows), *std::move(val_windows));
}

// Minibatches of training windows for M members: each member draws from its
// pool — all windows, or (bootstrap) its own resample drawn once here.
class MinibatchSampler {
 public:
  MinibatchSampler(const WindowSet& windows, int64_t members, const TrainerOptions& options)
      : windows_(windows),
        members_(members),
        batch_(std::min(options.batch_size, windows.start.size(0))),
        bootstrap_(options.bootstrap),
        generator_(at::detail::createCPUGenerator(options.seed + 17)) {
    const int64_t w = windows.start.size(0);
    pools_ = bootstrap_ ? at::randint(w, {members, w}, generator_, at::kLong)
                        : at::arange(w, at::kLong).expand({members, w});
  }

  // Starts [M, B, D] and targets [M, B, L, D].
  std::pair<at::Tensor, at::Tensor> Next() {
    const int64_t w = windows_.start.size(0);
    at::Tensor picks = at::randint(w, {bootstrap_ ? members_ : 1, batch_}, generator_, at::kLong);
    at::Tensor index = pools_.gather(1, picks.expand({members_, batch_})).reshape(-1);  // [M·B] window indices.
    return {windows_.start.index_select(0, index).view({members_, batch_, -1}),
            windows_.targets.index_select(0, index).view({members_, batch_, windows_.targets.size(1), -1})};
  }

 private:
  const WindowSet& windows_;
  const int64_t members_, batch_;
  const bool bootstrap_;
  at::Generator generator_;
  at::Tensor pools_;
};

// One optimiser step on a minibatch; FAILED_PRECONDITION when the loss or a
// gradient is not finite (nothing is stepped then).
absl::StatusOr<ObjectiveTerms> TrainingStep(HybridModel& model, HybridObjective& objective,
                                            torch::optim::Adam& optimizer, const std::vector<at::Tensor>& trained,
                                            const at::Tensor& x0, const at::Tensor& y, double dt,
                                            const TrainerOptions& options, int64_t it) {
  model.train(true);
  optimizer.zero_grad();
  ObjectiveTerms terms = objective.Evaluate(model, x0, y, dt, options.substeps);
  if (!std::isfinite(terms.total.item<double>())) {
    return absl::FailedPreconditionError(absl::StrCat("training loss became non-finite at iteration ", it));
  }
  terms.total.backward();
  if (!GradientsFinite(trained)) {
    return absl::FailedPreconditionError(absl::StrCat("a gradient became non-finite at iteration ", it));
  }
  if (options.gradient_clip > 0.0) torch::nn::utils::clip_grad_norm_(trained, options.gradient_clip);
  optimizer.step();
  model.physics().ClampToBounds();
  objective.AfterStep(terms);
  DecayLearningRates(optimizer, it, options.lr_decay_every, options.lr_decay_factor);
  return terms;
}

}  // namespace

absl::StatusOr<TrainingResult> TrainHybrid(HybridModel& model, const TrajectoryData& train,
                                           const TrajectoryData& validation, const TrainerOptions& options,
                                           const ObjectiveOptions& objective_options) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  absl::StatusOr<std::pair<WindowSet, WindowSet>> windows = TrainingWindows(model, train, validation, options);
  if (!windows.ok()) return windows.status();
  const auto& [train_windows, val_windows] = *windows;
  absl::StatusOr<HybridObjective> objective = HybridObjective::Create(model, objective_options);
  if (!objective.ok()) return objective.status();
  const std::unique_ptr<torch::optim::Adam> optimizer =
      MakeThetaPhiAdam(model, options.freeze_theta ? std::nullopt : std::optional<double>(options.learning_rate_theta),
                       options.freeze_phi ? std::nullopt : std::optional<double>(options.learning_rate_phi));
  if (!optimizer) return absl::InvalidArgumentError("nothing to train: θ and φ are frozen or empty");
  const std::vector<at::Tensor> trained = OptimizedTensors(*optimizer);

  at::manual_seed(options.seed);  // Dropout masks.
  MinibatchSampler sampler(train_windows, model.members(), options);
  TrainingResult result;
  result.best_validation_mse = std::numeric_limits<double>::infinity();
  ParameterCopy best = CopyParameters(model);
  int64_t stale = 0;
  const Clock::time_point started = Clock::now();
  for (int64_t it = 1; it <= options.iterations; ++it) {
    const auto [x0, y] = sampler.Next();
    absl::StatusOr<ObjectiveTerms> terms = TrainingStep(model, *objective, *optimizer, trained, x0, y, train.dt,
                                                        options, it);
    if (!terms.ok()) {
      RestoreParameters(model, best);
      return terms.status();
    }
    result.iterations_run = it;
    if (it % options.validate_every != 0 && it != options.iterations) continue;

    const at::Tensor forecast = ForecastWindows(model, val_windows, validation.dt, options.substeps);
    const double val = (forecast.mean(0) - val_windows.targets).pow(2).mean().item<double>();
    stale = val < result.best_validation_mse ? 0 : stale + 1;
    if (stale == 0) {
      result.best_validation_mse = val;
      result.best_iteration = it;
      best = CopyParameters(model);
    }
    TrainingProgress progress;
    progress.iteration = it;
    progress.iterations = options.iterations;
    progress.train_loss = terms->data;
    progress.validation_mse = val;
    progress.best_validation_mse = result.best_validation_mse;
    progress.lambda = objective->lambda();
    progress.elapsed_s = std::chrono::duration<double>(Clock::now() - started).count();
    progress.eta_s = progress.elapsed_s / static_cast<double>(it) * static_cast<double>(options.iterations - it);
    progress.theta = TrainableTheta(model);
    result.history.push_back(progress);
    if (options.progress) options.progress(progress);
    if (options.patience > 0 && stale >= options.patience) {
      result.stopped_early = true;
      break;
    }
  }
  RestoreParameters(model, best);
  model.eval();
  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  result.seconds_per_iteration = result.seconds / static_cast<double>(result.iterations_run);
  return result;
}

}  // namespace hybrid::solvers
