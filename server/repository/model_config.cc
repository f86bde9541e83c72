#include "server/repository/model_config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/model_name.h"

namespace hybrid::server {
namespace {

// "cpu", "cuda" or "cuda:N" with N a small device index.
bool IsDeviceName(const std::string& device) {
  if (device == "cpu" || device == "cuda") return true;
  const absl::string_view index = absl::string_view(device).substr(std::min<size_t>(device.size(), 5));
  int n = 0;
  return absl::StartsWith(device, "cuda:") && !index.empty() && index.size() <= 3 &&
         absl::c_all_of(index, absl::ascii_isdigit) && absl::SimpleAtoi(index, &n);
}

// Collects text-format parse errors instead of printing them to stderr.
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (!first_.empty()) return;
    first_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ", message);
    line_ = line;
  }
  const std::string& first() const { return first_; }
  int line() const { return line_; }  // 0-based; -1 when none.

 private:
  std::string first_;
  int line_ = -1;
};

// The sizes and numbers of `entities`; the names in observables and inputs are
// checked against the physics' components when the model is built
// (server/core/entities/observation_space.h).
absl::Status ValidateEntityConfig(const v1::EntityConfig& e) {
  if (e.max_entities() < 1 || e.max_entities() > 10'000'000) {
    return absl::InvalidArgumentError(
        absl::StrCat("entities.max_entities must be in [1, 10000000], got ", e.max_entities()));
  }
  if (!(e.inflation() >= 1.0 && e.inflation() <= 2.0)) {
    return absl::InvalidArgumentError(absl::StrCat("entities.inflation must be in [1, 2], got ", e.inflation()));
  }
  if (!(e.max_step() > 0.0) || !std::isfinite(e.max_step())) {
    return absl::InvalidArgumentError(absl::StrCat("entities.max_step must be finite and > 0, got ", e.max_step()));
  }
  if (!(e.max_gap() > 0.0) || !std::isfinite(e.max_gap())) {
    return absl::InvalidArgumentError(absl::StrCat("entities.max_gap must be finite and > 0, got ", e.max_gap()));
  }
  if (!(e.localization_radius() >= 0.0) || !std::isfinite(e.localization_radius())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "entities.localization_radius must be finite and ≥ 0 (0: global analyses), got ", e.localization_radius()));
  }
  if (!std::isfinite(e.conformal_gain()) || e.conformal_gain() > 1.0) {
    return absl::InvalidArgumentError(
        absl::StrCat("entities.conformal_gain must be finite and ≤ 1 (negative: off), got ", e.conformal_gain()));
  }
  if (e.max_reports_per_request() < 1 || e.max_readings_per_report() < 1) {
    return absl::InvalidArgumentError("entities.max_reports_per_request and max_readings_per_report must be ≥ 1");
  }
  for (int i = 0; i < e.prior_mean_size(); ++i) {
    if (!std::isfinite(e.prior_mean(i))) {
      return absl::InvalidArgumentError(absl::StrCat("entities.prior_mean[", i, "] must be finite"));
    }
  }
  for (int i = 0; i < e.prior_std_size(); ++i) {
    if (!(e.prior_std(i) >= 0.0) || !std::isfinite(e.prior_std(i))) {
      return absl::InvalidArgumentError(absl::StrCat("entities.prior_std[", i, "] must be finite and ≥ 0"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

void ApplyDefaults(v1::ModelConfig& config) {
  if (config.ensemble_members() == 0) config.set_ensemble_members(5);
  if (config.dtype().empty()) config.set_dtype("float64");
  if (config.device().empty()) config.set_device("cpu");
  v1::CorrectionConfig& correction = *config.mutable_correction();
  if (correction.output_scale() == 0.0) correction.set_output_scale(0.01);
  if (correction.composition() == v1::COMPOSITION_UNSPECIFIED) correction.set_composition(v1::COMPOSITION_ADDITIVE);
  if (correction.network() == v1::NETWORK_KIND_UNSPECIFIED) correction.set_network(v1::NETWORK_KIND_MLP);
  if (correction.parallel_alpha() == 0.0) correction.set_parallel_alpha(0.9);
  if (correction.output_gain() == 0.0) correction.set_output_gain(1.0);
  v1::CalibrationConfig& c = *config.mutable_calibration();
  if (c.method() == v1::CALIBRATION_METHOD_UNSPECIFIED) c.set_method(v1::CALIBRATION_METHOD_BACKPROP);
  if (c.learning_rate_theta() == 0.0) c.set_learning_rate_theta(0.02);
  if (c.learning_rate_phi() == 0.0) c.set_learning_rate_phi(1e-3);
  if (c.coverage_level() == 0.0) c.set_coverage_level(0.9);
  if (c.max_window_steps() == 0) c.set_max_window_steps(1000);
  if (c.max_window_duration() == 0.0) c.set_max_window_duration(1e4);
  if (c.max_windows_per_observation() == 0) c.set_max_windows_per_observation(1024);
  if (c.queue_capacity() == 0) c.set_queue_capacity(1024);
  if (c.max_observations_per_update() == 0) c.set_max_observations_per_update(1);
  if (c.theta_update() == v1::THETA_UPDATE_UNSPECIFIED) c.set_theta_update(v1::THETA_UPDATE_GRADIENT);
  if (c.ensemble_size() == 0) c.set_ensemble_size(8);
  if (c.ensemble_perturbation() == 0.0) c.set_ensemble_perturbation(1e-4);
  if (c.kalman_inflation() == 0.0) c.set_kalman_inflation(1.01);
  if (c.lr_decay() == 0.0) c.set_lr_decay(1.0);
  if (c.guard_warmup() == 0) c.set_guard_warmup(10);
  if (c.guard_window() == 0) c.set_guard_window(50);
  if (c.guard_loss_floor() == 0.0) c.set_guard_loss_floor(1e-6);
  v1::UncertaintyConfig& u = *config.mutable_uncertainty();
  if (u.samples_per_member() == 0) u.set_samples_per_member(8);
  if (u.guard_false_alarm() == 0.0) u.set_guard_false_alarm(1e-6);
  if (u.model_error_memory() == 0.0) u.set_model_error_memory(0.01);
  if (u.initial_model_error_std() == 0.0) u.set_initial_model_error_std(1.0);
  if (u.conformal_gain() == 0.0) u.set_conformal_gain(0.005);
  v1::PredictLimits& l = *config.mutable_limits();
  if (l.max_output_times() == 0) l.set_max_output_times(10000);
  if (l.max_total_steps() == 0) l.set_max_total_steps(100000);
  if (l.max_batch() == 0) l.set_max_batch(1024);
  if (l.max_calibrate_streams() == 0) l.set_max_calibrate_streams(16);
  if (l.max_interval_levels() == 0) l.set_max_interval_levels(16);
  if (l.max_answer_bytes() == 0) l.set_max_answer_bytes(int64_t{16} << 20);
  if (config.has_dynamic_batching()) {
    v1::DynamicBatchingConfig& b = *config.mutable_dynamic_batching();
    if (b.preferred_batch_size() == 0) b.set_preferred_batch_size(32);
    if (b.max_batch_size() == 0) b.set_max_batch_size(l.max_batch());
  }
  v1::DurabilityConfig& d = *config.mutable_durability();
  if (d.wal_sync() == v1::WAL_SYNC_UNSPECIFIED) d.set_wal_sync(v1::WAL_SYNC_ALWAYS);
  if (d.checkpoint_every() == 0) d.set_checkpoint_every(1000);
  if (d.checkpoint_interval_seconds() == 0.0) d.set_checkpoint_interval_seconds(300.0);
  if (d.keep_checkpoints() == 0) d.set_keep_checkpoints(5);
  if (d.wal_segment_bytes() == 0) d.set_wal_segment_bytes(int64_t{64} << 20);
  v1::EntityConfig& e = *config.mutable_entities();
  if (e.max_entities() == 0) e.set_max_entities(10000);
  if (e.inflation() == 0.0) e.set_inflation(1.0);
  if (e.max_step() == 0.0) e.set_max_step(0.01);
  if (e.max_gap() == 0.0) e.set_max_gap(1e4);
  if (e.max_reports_per_request() == 0) e.set_max_reports_per_request(1024);
  if (e.max_readings_per_report() == 0) e.set_max_readings_per_report(4096);
  if (e.conformal_gain() == 0.0) e.set_conformal_gain(0.05);
  for (v1::ObservableConfig& o : *config.mutable_observables()) {
    for (v1::ObservableTerm& t : *o.mutable_terms()) {
      if (t.weight() == 0.0) t.set_weight(1.0);
    }
  }
  for (v1::InputConfig& i : *config.mutable_inputs()) {
    if (i.kind() == v1::INPUT_KIND_UNSPECIFIED) i.set_kind(v1::INPUT_KIND_BOLUS);
  }
}

absl::Status ValidateModelConfig(const v1::ModelConfig& config) {
  if (absl::Status s = base::ValidateModelName(config.name(), "name"); !s.ok()) return s;
  if (config.physics() == v1::PHYSICS_KIND_UNSPECIFIED) {
    return absl::InvalidArgumentError("physics must be set (e.g. PHYSICS_KIND_LORENZ63)");
  }
  if (config.ensemble_members() < 1 || config.ensemble_members() > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("ensemble_members must be in [1, 256], got ", config.ensemble_members()));
  }
  if (!IsDeviceName(config.device())) {
    return absl::InvalidArgumentError(
        absl::StrCat("device must be \"cpu\", \"cuda\" or \"cuda:N\", got '", config.device(), "'"));
  }
  if (config.dtype() != "float64" && config.dtype() != "float32") {
    return absl::InvalidArgumentError(absl::StrCat("dtype must be float64 or float32, got '", config.dtype(), "'"));
  }
  const v1::CalibrationConfig& c = config.calibration();
  if (c.max_window_steps() < 1) return absl::InvalidArgumentError("calibration.max_window_steps must be ≥ 1");
  if (!(c.max_window_duration() > 0.0) || !std::isfinite(c.max_window_duration())) {
    return absl::InvalidArgumentError(
        absl::StrCat("calibration.max_window_duration must be finite and > 0, got ", c.max_window_duration()));
  }
  if (c.max_windows_per_observation() < 1) {
    return absl::InvalidArgumentError("calibration.max_windows_per_observation must be ≥ 1");
  }
  if (c.queue_capacity() < 1) return absl::InvalidArgumentError("calibration.queue_capacity must be ≥ 1");
  if (c.max_observations_per_update() < 1 || c.max_observations_per_update() > 256) {
    return absl::InvalidArgumentError(absl::StrCat("calibration.max_observations_per_update must be in [1, 256], got ",
                                                   c.max_observations_per_update()));
  }
  const v1::PredictLimits& l = config.limits();
  if (l.max_output_times() < 1 || l.max_total_steps() < 1 || l.max_batch() < 1 || l.max_calibrate_streams() < 1) {
    return absl::InvalidArgumentError("limits.* must be ≥ 1");
  }
  if (l.max_output_times() > 1'000'000) {
    return absl::InvalidArgumentError(
        absl::StrCat("limits.max_output_times must be at most 1000000, got ", l.max_output_times()));
  }
  if (config.has_dynamic_batching()) {
    const v1::DynamicBatchingConfig& b = config.dynamic_batching();
    if (b.max_queue_delay_microseconds() < 0 || b.max_queue_delay_microseconds() > 100000) {
      return absl::InvalidArgumentError(
          absl::StrCat("dynamic_batching.max_queue_delay_microseconds must be in [0, 100000], got ",
                       b.max_queue_delay_microseconds()));
    }
    if (b.preferred_batch_size() < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("dynamic_batching.preferred_batch_size must be ≥ 1, got ", b.preferred_batch_size()));
    }
    if (b.max_batch_size() < 1 || b.max_batch_size() > l.max_batch()) {
      return absl::InvalidArgumentError(absl::StrCat("dynamic_batching.max_batch_size must be in [1, ", l.max_batch(),
                                                     "] (limits.max_batch), got ", b.max_batch_size()));
    }
  }
  if (l.max_interval_levels() < 1 || l.max_interval_levels() > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("limits.max_interval_levels must be in [1, 1000], got ", l.max_interval_levels()));
  }
  if (l.max_answer_bytes() < 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("limits.max_answer_bytes must be ≥ 1024, got ", l.max_answer_bytes()));
  }
  const v1::DurabilityConfig& d = config.durability();
  if (d.checkpoint_every() < 1) return absl::InvalidArgumentError("durability.checkpoint_every must be ≥ 1");
  if (!(d.checkpoint_interval_seconds() > 0.0)) {
    return absl::InvalidArgumentError("durability.checkpoint_interval_seconds must be > 0");
  }
  if (d.keep_checkpoints() < 1) return absl::InvalidArgumentError("durability.keep_checkpoints must be ≥ 1");
  if (d.wal_segment_bytes() < 4096) return absl::InvalidArgumentError("durability.wal_segment_bytes must be ≥ 4096");
  if (absl::Status s = ValidateEntityConfig(config.entities()); !s.ok()) return s;
  if (config.entities().learn_shared() && config.calibration().method() != v1::CALIBRATION_METHOD_UNSPECIFIED &&
      config.calibration().method() != v1::CALIBRATION_METHOD_BACKPROP) {
    return absl::InvalidArgumentError(
        "entities.learn_shared needs calibration.method BACKPROP: the readings' loss is differentiated by autograd "
        "through the physics (for black-box θ use entities.estimate_parameters)");
  }
  for (int i = 0; i < config.parameters_size(); ++i) {
    if (config.parameters(i).name().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("parameters[", i, "].name must not be empty"));
    }
  }
  // A module runs inside the server: only what is in the model's folder loads.
  v1::ModelConfig copy = config;
  for (const ScriptFile& script : ScriptFiles(copy)) {
    const std::filesystem::path file(*script.path);
    if (file.empty() || !file.is_relative() ||
        std::any_of(file.begin(), file.end(), [](const std::filesystem::path& part) { return part == ".."; })) {
      return absl::InvalidArgumentError(
          absl::StrCat(script.field, " '", *script.path, "' must be a path inside the model's folder, relative to it"));
    }
  }
  return absl::OkStatus();
}

std::vector<ScriptFile> ScriptFiles(v1::ModelConfig& config) {
  std::vector<ScriptFile> files;
  if (config.physics() == v1::PHYSICS_KIND_TORCHSCRIPT) {
    files.push_back({"torchscript.file", config.mutable_torchscript()->mutable_file()});
  }
  if (config.correction().network() == v1::NETWORK_KIND_TORCHSCRIPT) {
    files.push_back({"correction.torchscript_file", config.mutable_correction()->mutable_torchscript_file()});
  }
  return files;
}

absl::StatusOr<v1::ModelConfig> ParseModelConfig(absl::string_view text, absl::string_view source) {
  v1::ModelConfig config;
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &config)) {
    // Quote the offending line: the parser's message names the token, not the field.
    std::string quoted;
    const std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
    if (errors.line() >= 0 && errors.line() < static_cast<int>(lines.size())) {
      quoted = absl::StrCat(" (in '", absl::StripAsciiWhitespace(lines[errors.line()]), "')");
    }
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", errors.first(), quoted));
  }
  ApplyDefaults(config);
  if (absl::Status s = ValidateModelConfig(config); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", s.message()));
  }
  return config;
}

std::optional<double> ParameterReference(const v1::ModelConfig& config, absl::string_view name) {
  for (const v1::ParameterConfig& p : config.parameters()) {
    if (p.name() == name && p.has_reference()) return p.reference();
  }
  return std::nullopt;
}

}  // namespace hybrid::server
