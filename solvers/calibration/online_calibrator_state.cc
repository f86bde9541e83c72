// OnlineCalibrator::SaveState / LoadState: the calibrator's whole mutable state
// in one LibTorch archive (see online_calibrator.h). Keys are flat:
//   meta.format, model.<module path>, adam.<i>.{step,exp_avg,exp_avg_sq,
//   max_exp_avg_sq} for the i-th optimised tensor, adam.group<g>.lr,
//   errors.{moments,observed,scores,refused_share,conformal_bucket,
//   conformal_log_scale,conformal_count}, guard.recent, replay.{count,random},
//   replay.<k>.{start,end,mask,path,step,steps}, generator, accepted, rollbacks
//   (the reverted-update count; the key keeps its v1 name so that archives stay readable).
#include <ATen/ATen.h>
#include <c10/util/string_utils.h>
#include <torch/optim/adam.h>
#include <torch/serialize/archive.h>

#include <deque>
#include <map>
#include <optional>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "solvers/calibration/online_calibrator.h"
#include "solvers/hybrid/trained_weights.h"
#include "solvers/torch_status.h"

namespace hybrid::solvers {
namespace {

// v2: the forecast error model replaced v1's residual_variance and
// observed_count; a v1 archive loads with the error model at its prior.
constexpr char kFormat[] = "hybridserve-calibrator-state-v2";
constexpr char kFormatV1[] = "hybridserve-calibrator-state-v1";

// Reads typed entries, remembering the first missing or mistyped key.
class Reader {
 public:
  explicit Reader(torch::serialize::InputArchive& archive) : archive_(archive) {}

  at::Tensor Tensor(const std::string& key) {
    at::Tensor t;
    if (!archive_.try_read(key, t)) Fail(key);
    return t;
  }
  std::optional<at::Tensor> OptionalTensor(const std::string& key) {
    at::Tensor t;
    if (!archive_.try_read(key, t)) return std::nullopt;
    return t;
  }
  int64_t Int(const std::string& key) {
    c10::IValue v;
    if (!archive_.try_read(key, v) || !v.isInt()) return Fail(key), 0;
    return v.toInt();
  }
  double Double(const std::string& key) {
    c10::IValue v;
    if (!archive_.try_read(key, v) || !v.isDouble()) return Fail(key), 0.0;
    return v.toDouble();
  }
  std::string String(const std::string& key) {
    c10::IValue v;
    if (!archive_.try_read(key, v) || !v.isString()) return Fail(key), std::string();
    return v.toStringRef();
  }
  void Fail(const std::string& key) {
    if (status_.ok()) status_ = absl::InvalidArgumentError(absl::StrCat("calibrator state lacks '", key, "'"));
  }
  void Check(bool ok, const std::string& message) {
    if (!ok && status_.ok()) status_ = absl::InvalidArgumentError(absl::StrCat("calibrator state: ", message));
  }
  const absl::Status& status() const { return status_; }

 private:
  torch::serialize::InputArchive& archive_;
  absl::Status status_;
};

bool SameShape(const at::Tensor& a, const at::Tensor& b) { return a.defined() && a.sizes().equals(b.sizes()); }

// What LoadState reads, before anything changes. Each reader records a
// missing or misfit entry in `read` and returns what it could.

std::map<std::string, at::Tensor> ReadModelValues(Reader& read, const std::map<std::string, at::Tensor>& targets) {
  std::map<std::string, at::Tensor> values;
  for (const auto& [name, target] : targets) {
    at::Tensor value = read.Tensor("model." + name);
    read.Check(!value.defined() || SameShape(value, target), "tensor 'model." + name + "' has another shape");
    values.emplace(name, value);
  }
  return values;
}

struct AdamValues {
  std::vector<double> group_rates;
  std::map<std::string, torch::optim::AdamParamState> states;  // By tensor, as the optimizer keys them.
};

AdamValues ReadAdam(Reader& read, const torch::optim::Adam& optimizer) {
  AdamValues out;
  int64_t i = 0, g = 0;
  for (const auto& group : optimizer.param_groups()) {
    out.group_rates.push_back(read.Double(absl::StrCat("adam.group", g++, ".lr")));
    for (const at::Tensor& p : group.params()) {
      const std::string prefix = absl::StrCat("adam.", i++, ".");
      std::optional<at::Tensor> exp_avg = read.OptionalTensor(prefix + "exp_avg");
      if (!exp_avg) continue;
      torch::optim::AdamParamState state;
      state.step(read.Int(prefix + "step"));
      state.exp_avg(*exp_avg);
      state.exp_avg_sq(read.Tensor(prefix + "exp_avg_sq"));
      if (std::optional<at::Tensor> m = read.OptionalTensor(prefix + "max_exp_avg_sq")) state.max_exp_avg_sq(*m);
      read.Check(SameShape(state.exp_avg(), p) && SameShape(state.exp_avg_sq(), p),
                 "Adam moments of '" + prefix + "' have another shape");
      out.states.emplace(c10::guts::to_string(p.unsafeGetTensorImpl()), std::move(state));
    }
  }
  return out;
}

void RestoreAdam(torch::optim::Adam& optimizer, AdamValues values) {
  optimizer.zero_grad();
  optimizer.state().clear();
  for (auto& [key, state] : values.states) {
    optimizer.state()[key] = std::make_unique<torch::optim::AdamParamState>(std::move(state));
  }
  size_t g = 0;
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(values.group_rates[g++]);
  }
}

// Format v2's error model (v1 archives have none: the model keeps its prior).
ForecastErrorModel::State ReadErrorModel(Reader& read) {
  ForecastErrorModel::State state;
  state.moments = read.Tensor("errors.moments");
  state.observed = read.Tensor("errors.observed");
  state.scores = read.Int("errors.scores");
  // Archives from before losing track was detected have none: 0, nothing refused.
  if (std::optional<at::Tensor> share = read.OptionalTensor("errors.refused_share")) {
    state.refused_share = share->item<double>();
  }
  const at::Tensor buckets = read.Tensor("errors.conformal_bucket");
  const at::Tensor log_scales = read.Tensor("errors.conformal_log_scale");
  const at::Tensor counts = read.Tensor("errors.conformal_count");
  read.Check(buckets.defined() && log_scales.defined() && counts.defined() &&
                 buckets.numel() == log_scales.numel() && buckets.numel() == counts.numel(),
             "errors.conformal_* disagree in length");
  for (int64_t i = 0; read.status().ok() && i < buckets.numel(); ++i) {
    state.conformal[buckets[i].item<int64_t>()] = {log_scales[i].item<double>(), counts[i].item<int64_t>()};
  }
  return state;
}

std::deque<ReplayBuffer::Window> ReadReplayWindows(Reader& read) {
  std::deque<ReplayBuffer::Window> windows;
  const int64_t count = read.Int("replay.count");
  for (int64_t k = 0; k < count && read.status().ok(); ++k) {
    const std::string prefix = absl::StrCat("replay.", k, ".");
    ReplayBuffer::Window w;
    w.start = read.Tensor(prefix + "start");
    w.end = read.Tensor(prefix + "end");
    w.mask = read.OptionalTensor(prefix + "mask").value_or(at::Tensor());
    w.path = read.OptionalTensor(prefix + "path").value_or(at::Tensor());
    w.step = read.Double(prefix + "step");
    w.steps = read.Int(prefix + "steps");
    windows.push_back(std::move(w));
  }
  return windows;
}

}  // namespace

absl::StatusOr<std::string> OnlineCalibrator::SaveState() const {
  return RunCatchingTorch("saving calibrator state", [&]() -> absl::StatusOr<std::string> {
    torch::serialize::OutputArchive archive;
    archive.write("meta.format", c10::IValue(std::string(kFormat)));
    for (const auto& [name, tensor] : NamedModelTensors(*model_)) {
      archive.write("model." + name, tensor.detach().clone());
    }
    if (optimizer_) {
      int64_t i = 0, g = 0;
      for (const auto& group : optimizer_->param_groups()) {
        archive.write(absl::StrCat("adam.group", g++, ".lr"),
                      c10::IValue(static_cast<const torch::optim::AdamOptions&>(group.options()).lr()));
        for (const at::Tensor& p : group.params()) {
          const std::string prefix = absl::StrCat("adam.", i++, ".");
          auto it = optimizer_->state().find(c10::guts::to_string(p.unsafeGetTensorImpl()));
          if (it == optimizer_->state().end()) continue;  // Not stepped yet.
          const auto& adam = static_cast<const torch::optim::AdamParamState&>(*it->second);
          archive.write(prefix + "step", c10::IValue(static_cast<int64_t>(adam.step())));
          archive.write(prefix + "exp_avg", adam.exp_avg().clone());
          archive.write(prefix + "exp_avg_sq", adam.exp_avg_sq().clone());
          if (adam.max_exp_avg_sq().defined()) archive.write(prefix + "max_exp_avg_sq", adam.max_exp_avg_sq().clone());
        }
      }
    }
    const ForecastErrorModel::State errors = errors_.state();
    archive.write("errors.moments", errors.moments);
    archive.write("errors.observed", errors.observed);
    archive.write("errors.scores", c10::IValue(errors.scores));
    archive.write("errors.refused_share", at::scalar_tensor(errors.refused_share, at::kDouble));
    std::vector<int64_t> buckets, counts;
    std::vector<double> log_scales;
    for (const auto& [bucket, value] : errors.conformal) {
      buckets.push_back(bucket);
      log_scales.push_back(value.first);
      counts.push_back(value.second);
    }
    archive.write("errors.conformal_bucket", at::tensor(buckets, at::kLong));
    archive.write("errors.conformal_log_scale", at::tensor(log_scales, at::kDouble));
    archive.write("errors.conformal_count", at::tensor(counts, at::kLong));
    const std::vector<double> recent(guard_.recent().begin(), guard_.recent().end());
    archive.write("guard.recent", at::tensor(recent, at::kDouble));
    archive.write("replay.count", c10::IValue(static_cast<int64_t>(replay_.windows().size())));
    archive.write("replay.random", c10::IValue(replay_.RandomState()));
    int64_t k = 0;
    for (const ReplayBuffer::Window& w : replay_.windows()) {
      const std::string prefix = absl::StrCat("replay.", k++, ".");
      archive.write(prefix + "start", w.start);
      archive.write(prefix + "end", w.end);
      if (w.mask.defined()) archive.write(prefix + "mask", w.mask);
      if (w.path.defined()) archive.write(prefix + "path", w.path);
      archive.write(prefix + "step", c10::IValue(w.step));
      archive.write(prefix + "steps", c10::IValue(w.steps));
    }
    archive.write("generator", generator_.get_state());
    archive.write("accepted", c10::IValue(accepted_));
    archive.write("rollbacks", c10::IValue(reverted_updates_));
    std::ostringstream out;
    archive.save_to(out);
    return out.str();
  });
}

absl::Status OnlineCalibrator::LoadState(const std::string& bytes) {
  return RunCatchingTorch("reading calibrator state", [&]() -> absl::Status {
    torch::serialize::InputArchive archive;
    std::istringstream in(bytes);
    archive.load_from(in);
    Reader read(archive);
    const std::string format = read.String("meta.format");
    read.Check(format == kFormat || format == kFormatV1, "not a calibrator state (meta.format)");
    if (!read.status().ok()) return read.status();

    // Read and check everything before changing anything.
    const std::map<std::string, at::Tensor> targets = NamedModelTensors(*model_);
    const std::map<std::string, at::Tensor> model_values = ReadModelValues(read, targets);
    AdamValues adam = optimizer_ ? ReadAdam(read, *optimizer_) : AdamValues();
    ForecastErrorModel errors = errors_;
    if (format == kFormat) {
      ForecastErrorModel::State state = ReadErrorModel(read);
      if (read.status().ok()) {
        if (absl::Status s = errors.Restore(std::move(state)); !s.ok()) return s;
      }
    }
    const at::Tensor recent = read.Tensor("guard.recent");
    std::deque<ReplayBuffer::Window> windows = ReadReplayWindows(read);
    const std::string random = read.String("replay.random");
    const at::Tensor generator = read.Tensor("generator");
    const int64_t accepted = read.Int("accepted");
    const int64_t reverted = read.Int("rollbacks");  // The key keeps its v1 name.
    if (!read.status().ok()) return read.status();
    ReplayBuffer replay = replay_;
    if (absl::Status s = replay.Restore(std::move(windows), random); !s.ok()) return s;
    at::Generator restored_generator = generator_.clone();
    restored_generator.set_state(generator);

    // Nothing below can fail.
    at::NoGradGuard no_grad;
    for (const auto& [name, target] : targets) {
      at::Tensor destination = target;  // Shares storage with the model's tensor.
      destination.copy_(model_values.at(name));
    }
    if (optimizer_) RestoreAdam(*optimizer_, std::move(adam));
    errors_ = std::move(errors);
    const std::vector<double> losses(recent.data_ptr<double>(), recent.data_ptr<double>() + recent.numel());
    guard_.Restore(std::deque<double>(losses.begin(), losses.end()));
    replay_ = std::move(replay);
    generator_ = restored_generator;
    accepted_ = accepted;
    reverted_updates_ = reverted;
    return absl::OkStatus();
  });
}

}  // namespace hybrid::solvers
