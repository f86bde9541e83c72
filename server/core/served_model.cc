#include "server/core/served_model.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/core/calibration_worker.h"
#include "server/core/entities/entity_filter.h"
#include "server/core/entities/observation_space.h"
#include "server/core/model_snapshot.h"
#include "server/core/predict_on_snapshot.h"
#include "server/repository/model_config.h"
#include "server/repository/model_spec.h"
#include "solvers/calibration/online_calibrator.h"
#include "solvers/hybrid/hybrid_model.h"
#include "solvers/hybrid/trained_weights.h"
#include "solvers/torch_status.h"

namespace hybrid::server {
namespace {

// The config's dynamic_batching (absent: no merging).
PredictBatcher::Options BatchingOptions(const v1::ModelConfig& config) {
  PredictBatcher::Options o;
  o.merge = config.has_dynamic_batching();
  if (!o.merge) return o;
  const v1::DynamicBatchingConfig& b = config.dynamic_batching();
  o.max_queue_delay = std::chrono::microseconds(b.max_queue_delay_microseconds());
  o.preferred_batch_states = b.preferred_batch_size();
  o.max_batch_states = b.max_batch_size();
  return o;
}

solvers::GradientMethod ToGradientMethod(v1::CalibrationMethod method) {
  switch (method) {
    case v1::CALIBRATION_METHOD_EGA_STATIC:
      return solvers::GradientMethod::kEgaStatic;
    case v1::CALIBRATION_METHOD_EGA_JACOBIAN:
      return solvers::GradientMethod::kEgaJacobian;
    case v1::CALIBRATION_METHOD_EGA_TLM:
      return solvers::GradientMethod::kEgaTlm;
    case v1::CALIBRATION_METHOD_EGA_ENSEMBLE:
      return solvers::GradientMethod::kEgaEnsemble;
    default:
      return solvers::GradientMethod::kBackprop;
  }
}

// Config (after ApplyDefaults) → options; OnlineCalibrator::Create validates them.
solvers::CalibratorOptions ToCalibratorOptions(const v1::ModelConfig& config) {
  const v1::CalibrationConfig& c = config.calibration();
  solvers::CalibratorOptions o;
  o.gradient.method = ToGradientMethod(c.method());
  o.gradient.ensemble_size = c.ensemble_size();
  o.gradient.ensemble_perturbation = c.ensemble_perturbation();
  o.theta_ensemble_kalman = c.theta_update() == v1::THETA_UPDATE_ENSEMBLE_KALMAN;
  o.kalman_observation_std = c.kalman_observation_std();
  o.kalman_inflation = c.kalman_inflation();
  o.replay_capacity = c.replay_capacity();
  o.replay_batch = c.replay_batch();
  o.clip_norm = c.clip_norm();
  o.lr_decay = c.lr_decay();
  o.lr_decay_every = c.lr_decay_every();
  o.guard.loss_ratio = std::max(c.guard_loss_ratio(), 0.0);
  o.guard.warmup = c.guard_warmup();
  o.guard.loss_floor = c.guard_loss_floor();
  o.guard.window = c.guard_window();
  o.seed = config.seed();
  o.learning_rate_theta = c.learning_rate_theta();
  o.learning_rate_phi = c.learning_rate_phi();
  o.correction_penalty = c.correction_penalty();
  o.coverage_level = c.coverage_level();
  const v1::UncertaintyConfig& u = config.uncertainty();
  o.errors.observation_noise_std.assign(u.observation_noise_std().begin(), u.observation_noise_std().end());
  o.errors.initial_model_error_std = u.initial_model_error_std();
  o.errors.memory = u.model_error_memory();
  o.errors.guard_false_alarm = u.guard_false_alarm();
  o.errors.conformal_gain = u.conformal_gain();
  o.samples_per_member = u.samples_per_member();
  return o;
}

// An observed path: [steps, D] (or [W, steps, D]) whose last state is end_state.
absl::Status ValidatePath(const Observation& o, int64_t windows, int64_t state_dim) {
  const bool batched = o.start.shape.size() == 2;
  std::vector<int64_t> expected = {o.steps, state_dim};
  if (batched) expected.insert(expected.begin(), windows);
  if (o.path.shape != expected) {
    return absl::InvalidArgumentError(absl::StrCat("path must have shape [", batched ? "W, " : "", "steps, ", state_dim,
                                                   "] (the state after each of the ", o.steps, " steps)"));
  }
  const size_t row = static_cast<size_t>(state_dim), per_window = static_cast<size_t>(o.steps) * row;
  for (size_t w = 0; w < static_cast<size_t>(windows); ++w) {
    for (size_t d = 0; d < row; ++d) {
      if (o.path.values[w * per_window + per_window - row + d] != o.end.values[w * row + d]) {
        return absl::InvalidArgumentError("path: its last state must equal end_state");
      }
    }
  }
  return absl::OkStatus();
}

// hybrid_parameter_initial from the model as built (config values, physics
// defaults or the config's checkpoint), hybrid_parameter_reference from the config.
void PublishParameterReferences(const v1::ModelConfig& config, const solvers::HybridModel& model, Metrics* metrics) {
  for (const ParameterEstimate& p : EstimateParameters(model)) {
    metrics->SetParameterReferences(config.name(), p.name, p.value, ParameterReference(config, p.name));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServedModel>> ServedModel::Create(const v1::ModelConfig& config, Metrics* metrics,
                                                                 const std::string& model_dir,
                                                                 const std::string& state_dir) {
  if (config.device() != "cpu") {
    // The LibTorch path runs on the CPU only for now; the fused kernel's CUDA
    // version (solvers/fused/cuda/) is a standalone library.
    return absl::FailedPreconditionError(
        at::hasCUDA() ? absl::StrCat("device: '", config.device(),
                                     "': this server does not run models on CUDA yet; set device: \"cpu\"")
                      : absl::StrCat("device: '", config.device(),
                                     "' asks for a GPU, but this server's LibTorch was built without CUDA "
                                     "(Debian's libtorch-dev is CPU-only); set device: \"cpu\""));
  }
  return solvers::RunCatchingTorch("loading model", [&]() -> absl::StatusOr<std::unique_ptr<ServedModel>> {
    v1::ModelConfig resolved = config;  // Module paths made absolute for loading; `config` keeps them as written.
    for (const ScriptFile& script : ScriptFiles(resolved)) {
      // Relative and without ".." (ParseModelConfig checked); no symlink may lead out of the folder either.
      namespace fs = std::filesystem;
      std::error_code ec;
      const fs::path folder = fs::weakly_canonical(model_dir.empty() ? fs::path(".") : fs::path(model_dir), ec);
      const fs::path file = fs::weakly_canonical(folder / *script.path, ec);
      const auto [end, at] = std::mismatch(folder.begin(), folder.end(), file.begin(), file.end());
      if (ec || end != folder.end()) {
        return absl::InvalidArgumentError(absl::StrCat(script.field, " '", *script.path,
                                                       "' leads out of the model's folder (to '", file.string(),
                                                       "'): only files inside it load"));
      }
      *script.path = file.string();
    }
    absl::StatusOr<solvers::HybridModelSpec> spec = SpecFromConfig(resolved);
    if (!spec.ok()) return spec.status();
    if (!spec->plugin.library.empty() && std::filesystem::path(spec->plugin.library).is_relative()) {
      spec->plugin.library = (std::filesystem::path(model_dir) / spec->plugin.library).string();
    }
    absl::StatusOr<std::shared_ptr<solvers::HybridModel>> model = solvers::HybridModel::Create(*spec);
    if (!model.ok()) return model.status();
    if (!config.checkpoint().empty()) {
      const std::string path = (std::filesystem::path(model_dir) / config.checkpoint()).string();
      if (absl::Status s = solvers::LoadTrainedWeights(**model, path); !s.ok()) {
        return absl::Status(s.code(), absl::StrCat("checkpoint: ", s.message()));
      }
    }
    absl::StatusOr<std::unique_ptr<solvers::OnlineCalibrator>> calibrator =
        solvers::OnlineCalibrator::Create(*model, ToCalibratorOptions(config));
    if (!calibrator.ok()) return calibrator.status();

    PublishParameterReferences(config, **model, metrics);
    std::vector<ComponentInfo> components;
    for (const solvers::StateComponent& c : (*model)->physics().Components()) components.push_back({c.name, c.unit});
    if (config.entities().estimate_parameters()) {
      if ((*model)->physics().TrainableRaw().empty()) {
        return absl::InvalidArgumentError(
            "entities.estimate_parameters needs a parameter with trainable: true (the ones it estimates)");
      }
      if (!(config.member_jitter() > 0.0)) {
        return absl::InvalidArgumentError(
            "entities.estimate_parameters needs member_jitter > 0: the members' spread of θ is what the analysis "
            "moves");
      }
    }
    std::vector<ObservationSpace::Parameter> parameters;
    for (const solvers::ParameterSpec& p : (*model)->physics().specs()) {
      parameters.push_back({p.name, p.positive, p.unit});
    }
    absl::StatusOr<ObservationSpace> space = ObservationSpace::Create(config, components, parameters);
    if (!space.ok()) return space.status();
    auto shared_space = std::make_shared<const ObservationSpace>(*std::move(space));
    if (config.entities().estimate_parameters()) {
      for (const ObservationSpace::EntityParameter& own : shared_space->per_entity()) {
        if ((*model)->physics().IsTrainable(own.index)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "entities.per_entity_parameters: '", own.name,
              "' is per entity, so it cannot also be a shared trainable parameter that estimate_parameters moves"));
        }
      }
    }
    EntityFilter::Options tracking;
    tracking.entities = config.entities();
    tracking.coverage_level = config.calibration().coverage_level();
    tracking.seed = config.seed();
    tracking.max_total_steps = config.limits().max_total_steps();
    tracking.members = (*model)->members();
    if (config.entities().localization_radius() > 0.0) {
      absl::StatusOr<solvers::GridLocalization> local = solvers::GridLocalization::Create(
          (*model)->physics().Grid(), (*model)->physics().Components(), config.entities().localization_radius());
      if (!local.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("entities.localization_radius: ", local.status().message()));
      }
      tracking.localization = std::make_shared<const solvers::GridLocalization>(*std::move(local));
    }
    auto entities = std::make_unique<EntityFilter>(shared_space, tracking);
    std::unique_ptr<ServedModel> served(new ServedModel(config, metrics, std::move(components), shared_space));
    CalibrationWorker::Options options;
    options.model = config.name();
    options.capacity = static_cast<size_t>(config.calibration().queue_capacity());
    options.max_observations_per_update = config.calibration().max_observations_per_update();
    options.metrics = metrics;
    std::unique_ptr<ModelDurability> durability;
    if (!state_dir.empty() && !config.durability().disabled()) {
      absl::StatusOr<std::unique_ptr<ModelDurability>> opened = ModelDurability::Open(state_dir, config.durability());
      if (!opened.ok()) return opened.status();
      durability = *std::move(opened);
    }
    ServedModel* raw = served.get();
    absl::StatusOr<std::unique_ptr<CalibrationWorker>> worker =
        CalibrationWorker::Start(*std::move(calibrator), std::move(entities), options, std::move(durability),
                                 [raw](std::shared_ptr<const ModelSnapshot> snapshot) {
                                   absl::MutexLock lock(&raw->mu_);
                                   raw->snapshot_ = std::move(snapshot);
                                 });
    if (!worker.ok()) return worker.status();
    absl::MutexLock lock(&served->worker_mu_);
    served->worker_ = *std::move(worker);
    return served;
  });
}

ServedModel::ServedModel(v1::ModelConfig config, Metrics* metrics, std::vector<ComponentInfo> components,
                         std::shared_ptr<const ObservationSpace> space)
    : config_(std::move(config)),
      metrics_(metrics),
      components_(std::move(components)),
      space_(std::move(space)),
      batcher_(BatchingOptions(config_), [this](absl::Span<const PredictQuery* const> queries) {
        return PredictTogetherOnSnapshot(*Snapshot(), config_, *space_, queries);
      }) {}

ServedModel::~ServedModel() { Stop(); }

void ServedModel::Stop() {
  std::unique_ptr<CalibrationWorker> worker;
  {
    absl::WriterMutexLock lock(&worker_mu_);
    worker = std::move(worker_);
  }
  worker.reset();  // Outside the lock: its queued jobs' callbacks may take a while.
}

absl::Status ServedModel::Stopped() const {
  return absl::UnavailableError(absl::StrCat("model '", name(), "' is being unloaded or the server is stopping"));
}

std::shared_ptr<const ModelSnapshot> ServedModel::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return snapshot_;
}

absl::StatusOr<PredictAnswer> ServedModel::Predict(const PredictQuery& query) const {
  return PredictOnSnapshot(*Snapshot(), config_, *space_, query);
}

bool ServedModel::SchedulePredict(PredictQuery query, ThreadPool& pool, std::shared_ptr<const ServedModel> self,
                                  PredictBatcher::Done done) const {
  return batcher_.Submit(std::move(query), pool, std::move(self), std::move(done));
}

absl::Status ServedModel::ValidateObservation(const Observation& o) const {
  const auto& shape = o.start.shape;
  if (!IsStateOrBatch(o.start, state_dim())) {
    return absl::InvalidArgumentError(absl::StrCat("start_state must have shape [", state_dim(), "] or [W, ", state_dim(),
                                                   "] for model '", name(), "'"));
  }
  if (o.end.shape != shape) {
    return absl::InvalidArgumentError("end_state must have the same shape as start_state");
  }
  if (!o.mask.shape.empty()) {
    if (o.mask.shape != shape) return absl::InvalidArgumentError("mask must have the same shape as end_state");
    bool any = false;
    for (double v : o.mask.values) {
      if (v != 0.0 && v != 1.0) return absl::InvalidArgumentError(absl::StrCat("mask values must be 0 or 1, got ", v));
      any = any || v == 1.0;
    }
    if (!any) return absl::InvalidArgumentError("mask observes no component: at least one value must be 1");
  }
  const int64_t windows = Rows(o.start);
  if (windows > config_.calibration().max_windows_per_observation()) {
    return absl::OutOfRangeError(absl::StrCat("start_state holds ", windows, " windows; the model allows at most ",
                                              config_.calibration().max_windows_per_observation()));
  }
  if (!(o.step > 0.0) || !std::isfinite(o.step)) {
    return absl::InvalidArgumentError(absl::StrCat("step must be finite and > 0, got ", o.step));
  }
  if (o.steps < 1) return absl::InvalidArgumentError(absl::StrCat("steps must be ≥ 1, got ", o.steps));
  if (o.steps > config_.calibration().max_window_steps()) {
    return absl::OutOfRangeError(absl::StrCat("steps = ", o.steps, " exceeds the model's max_window_steps ",
                                              config_.calibration().max_window_steps()));
  }
  if (const double duration = o.step * static_cast<double>(o.steps);
      !(duration <= config_.calibration().max_window_duration())) {
    return absl::OutOfRangeError(absl::StrCat("step × steps = ", o.step, " × ", o.steps, " = ", duration,
                                              " exceeds the model's calibration.max_window_duration ",
                                              config_.calibration().max_window_duration()));
  }
  if (!o.path.shape.empty()) return ValidatePath(o, windows, state_dim());
  return absl::OkStatus();
}

absl::Status ServedModel::Submit(Observation observation, Done done) {
  absl::Status status = ValidateObservation(observation);
  if (status.ok()) {
    absl::ReaderMutexLock lock(&worker_mu_);
    status = worker_ ? worker_->Enqueue(std::move(observation), std::move(done)) : Stopped();
  }
  if (!status.ok()) CountRejected();
  return status;
}

absl::Status ServedModel::Observe(ReportBatch batch, ReportsDone done) {
  absl::Status status = space_->Resolve(batch);
  if (status.ok()) {
    absl::ReaderMutexLock lock(&worker_mu_);
    status = worker_ ? worker_->Observe(std::move(batch), std::move(done)) : Stopped();
  }
  return status;
}

absl::Status ServedModel::DeleteEntity(std::string entity, StatusDone done) {
  absl::ReaderMutexLock lock(&worker_mu_);
  return worker_ ? worker_->DeleteEntity(std::move(entity), std::move(done)) : Stopped();
}

absl::StatusOr<EntityPage> ServedModel::ListEntities(const std::string& start_after, int64_t page_size) const {
  if (page_size < 1 || page_size > 10000) {
    return absl::InvalidArgumentError(absl::StrCat("page_size must be in [1, 10000], got ", page_size));
  }
  const std::shared_ptr<const ModelSnapshot> snapshot = Snapshot();
  EntityPage page;
  page.total = snapshot->entities.size();
  // One more than asked tells whether another page follows.
  std::vector<std::shared_ptr<const EntityState>> found =
      snapshot->entities.Page(start_after, static_cast<size_t>(page_size) + 1);
  const bool more = static_cast<int64_t>(found.size()) > page_size;
  if (more) found.pop_back();
  for (const auto& e : found) page.entities.push_back({e->name, e->time, e->reports});
  if (more) page.next_start_after = page.entities.back().name;
  return page;
}

absl::StatusOr<EntityView> ServedModel::GetEntity(const std::string& entity) const {
  const std::shared_ptr<const ModelSnapshot> snapshot = Snapshot();
  const std::shared_ptr<const EntityState> e = snapshot->entities.Find(entity);
  if (!e) return absl::NotFoundError(absl::StrCat("model '", name(), "' has no entity '", entity, "'"));
  const int64_t d = state_dim(), m = static_cast<int64_t>(e->ensemble.size()) / d;
  EntityView view;
  view.summary = {e->name, e->time, e->reports};
  view.version = snapshot->version;
  view.ensemble = {{m, d}, e->ensemble};
  view.mean = {{d}, std::vector<double>(static_cast<size_t>(d), 0.0)};
  view.std = {{d}, std::vector<double>(static_cast<size_t>(d), 0.0)};
  view.rates = {{d}, std::vector<double>(static_cast<size_t>(d), 0.0)};
  for (int64_t j = 0; j < d; ++j) {
    double sum = 0.0, squares = 0.0;
    for (int64_t k = 0; k < m; ++k) sum += e->ensemble[static_cast<size_t>(k * d + j)];
    const double mean = sum / static_cast<double>(m);
    for (int64_t k = 0; k < m; ++k) {
      const double dev = e->ensemble[static_cast<size_t>(k * d + j)] - mean;
      squares += dev * dev;
    }
    view.mean.values[static_cast<size_t>(j)] = mean;
    view.std.values[static_cast<size_t>(j)] = m > 1 ? std::sqrt(squares / static_cast<double>(m - 1)) : 0.0;
  }
  for (size_t i = 0; i < space_->inputs().size(); ++i) {
    view.rates.values[static_cast<size_t>(space_->inputs()[i].component)] += e->rates[i];
  }
  const size_t own = space_->per_entity().size();
  for (size_t p = 0; p < own; ++p) {
    const ObservationSpace::EntityParameter& spec = space_->per_entity()[p];
    std::vector<double> values;
    for (size_t k = 0; k < static_cast<size_t>(m); ++k) {
      const double raw = e->parameters[k * own + p];
      values.push_back(spec.positive ? std::exp(raw) : raw);
    }
    double mean = 0.0, squares = 0.0;
    for (double v : values) mean += v / static_cast<double>(m);
    for (double v : values) squares += (v - mean) * (v - mean);
    view.parameters.push_back({spec.name, mean, m > 1 ? std::sqrt(squares / static_cast<double>(m - 1)) : 0.0,
                               space_->parameters()[spec.index].unit, true});
  }
  return view;
}

absl::Status ServedModel::SaveCheckpoint(VersionDone done) {
  absl::ReaderMutexLock lock(&worker_mu_);
  return worker_ ? worker_->SaveCheckpoint(std::move(done)) : Stopped();
}

absl::Status ServedModel::Rollback(uint64_t version, VersionDone done) {
  absl::ReaderMutexLock lock(&worker_mu_);
  return worker_ ? worker_->Rollback(version, std::move(done)) : Stopped();
}

bool ServedModel::TryOpenStream() {
  int open = open_streams_.load();
  while (open < config_.limits().max_calibrate_streams()) {
    if (open_streams_.compare_exchange_weak(open, open + 1)) {
      model_metrics().calibrate_streams->Increment();
      return true;
    }
  }
  return false;
}

void ServedModel::CloseStream() {
  open_streams_.fetch_sub(1);
  model_metrics().calibrate_streams->Decrement();
}

void ServedModel::CountRejected() { model_metrics().rejected->Increment(); }

absl::StatusOr<solvers::GradientAgreement> ServedModel::CheckGradients() const {
  const std::shared_ptr<const ModelSnapshot> snapshot = Snapshot();
  return solvers::RunCatchingTorch("checking gradients", [&] {
    return solvers::CheckForecastGradient(*snapshot->model, /*steps=*/10, /*step=*/0.01);
  });
}

ModelMetrics& ServedModel::model_metrics() const {
  return metrics_->ForModel(name(), config_.calibration().coverage_level());
}

ModelInfo ServedModel::Info() const {
  const std::shared_ptr<const ModelSnapshot> snapshot = Snapshot();
  ModelInfo info;
  info.name = config_.name();
  info.description = config_.description();
  info.version = snapshot->version;
  info.observations_accepted = snapshot->observations_accepted;
  info.parameters = snapshot->parameters;
  info.components = components_;
  info.entities = snapshot->entities.size();
  absl::ReaderMutexLock lock(&worker_mu_);
  if (worker_) {
    info.durability = worker_->durability_info();
    info.calibration = worker_->calibration_status();
  }
  info.calibration.coverage_target = config_.calibration().coverage_level();
  return info;
}

}  // namespace hybrid::server
