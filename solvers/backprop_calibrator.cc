#include "solvers/backprop_calibrator.h"

#include <ATen/ATen.h>
#include <torch/optim/adam.h>

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "solvers/ensemble_stats.h"
#include "solvers/window_loss.h"

namespace hybrid::solvers {
namespace {

constexpr double kResidualEmaWeight = 0.02;

bool AllFinite(const std::vector<at::Tensor>& tensors) {
  for (const at::Tensor& t : tensors) {
    if (t.grad().defined() && !at::isfinite(t.grad()).all().item<bool>()) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BackpropCalibrator>> BackpropCalibrator::Create(std::shared_ptr<HybridModel> model,
                                                                               const CalibratorOptions& options) {
  auto positive = [](double v) { return v > 0.0 && std::isfinite(v); };
  if (!positive(options.learning_rate_theta)) {
    return absl::InvalidArgumentError(
        absl::StrCat("calibration.learning_rate_theta must be > 0, got ", options.learning_rate_theta));
  }
  if (!positive(options.learning_rate_phi)) {
    return absl::InvalidArgumentError(
        absl::StrCat("calibration.learning_rate_phi must be > 0, got ", options.learning_rate_phi));
  }
  if (!(options.correction_penalty >= 0.0) || !std::isfinite(options.correction_penalty)) {
    return absl::InvalidArgumentError(
        absl::StrCat("calibration.correction_penalty must be ≥ 0, got ", options.correction_penalty));
  }
  if (!(options.coverage_level > 0.0 && options.coverage_level < 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("calibration.coverage_level must be in (0, 1), got ", options.coverage_level));
  }
  if (!positive(options.initial_residual_std)) {
    return absl::InvalidArgumentError(
        absl::StrCat("calibration.initial_residual_std must be > 0, got ", options.initial_residual_std));
  }
  return std::unique_ptr<BackpropCalibrator>(new BackpropCalibrator(std::move(model), options));
}

BackpropCalibrator::BackpropCalibrator(std::shared_ptr<HybridModel> model, const CalibratorOptions& options)
    : model_(std::move(model)), options_(options) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto add_group = [&](std::vector<at::Tensor> params, double lr) {
    if (params.empty()) return;
    groups.emplace_back(std::move(params), std::make_unique<torch::optim::AdamOptions>(lr));
  };
  add_group(model_->ThetaParameters(), options_.learning_rate_theta);
  add_group(model_->PhiParameters(), options_.learning_rate_phi);
  if (!groups.empty()) {
    optimizer_ = std::make_unique<torch::optim::Adam>(std::move(groups), torch::optim::AdamOptions());
  }
  residual_variance_ = at::full({model_->state_dim()}, options_.initial_residual_std * options_.initial_residual_std,
                                at::TensorOptions().dtype(model_->dtype()));
}

BackpropCalibrator::~BackpropCalibrator() = default;

absl::StatusOr<CalibrationStep> BackpropCalibrator::Update(const WindowBatch& batch) {
  const WindowRollout rollout = RolloutWindows(*model_, batch.start, batch.step, batch.steps);
  const at::Tensor mse = WindowMse(rollout.prediction, batch.end);
  at::Tensor loss = mse;
  if (options_.correction_penalty > 0.0 && model_->has_correction()) {
    const at::Tensor x0 =
        batch.start.unsqueeze(0).expand({model_->members(), batch.start.size(0), batch.start.size(1)});
    loss = loss + options_.correction_penalty * model_->Correction(x0).pow(2).sum(-1).mean();
  }

  CalibrationStep result;
  result.loss = mse.item<double>();
  if (!std::isfinite(loss.item<double>())) {
    return absl::FailedPreconditionError(
        absl::StrCat("calibration loss is not finite (", result.loss, "); update skipped"));
  }

  // Score the data against what the model predicted before seeing it.
  const at::Tensor prediction = rollout.prediction.detach();
  const EnsembleSummary summary = SummarizeEnsemble(prediction, residual_variance_, {options_.coverage_level});
  result.coverage =
      ((batch.end >= summary.lower[0]) & (batch.end <= summary.upper[0])).to(at::kDouble).mean().item<double>();

  if (optimizer_) {
    optimizer_->zero_grad();
    loss.backward();
    std::vector<at::Tensor> params = model_->ThetaParameters();
    const std::vector<at::Tensor> phi = model_->PhiParameters();
    params.insert(params.end(), phi.begin(), phi.end());
    if (!AllFinite(params)) {
      optimizer_->zero_grad();
      return absl::FailedPreconditionError("calibration gradient is not finite; update skipped");
    }
    optimizer_->step();
    model_->physics().ClampToBounds();
  }

  const at::Tensor squared_error = (summary.mean - batch.end).pow(2).mean(0);  // [D]
  const double weight = std::max(1.0 / static_cast<double>(updates_ + 1), kResidualEmaWeight);
  residual_variance_ = (1.0 - weight) * residual_variance_ + weight * squared_error;
  ++updates_;
  return result;
}

}  // namespace hybrid::solvers
