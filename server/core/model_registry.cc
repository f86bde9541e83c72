#include "server/core/model_registry.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/enum_names.h"
#include "base/file_contents.h"
#include "base/model_name.h"
#include "server/repository/model_config.h"

namespace hybrid::server {
namespace {

namespace fs = std::filesystem;

// The model's config from <dir>/config.pbtxt, its name checked against the folder.
absl::StatusOr<v1::ModelConfig> ReadConfig(const fs::path& dir) {
  const fs::path file = dir / "config.pbtxt";
  absl::StatusOr<std::string> text = base::ReadFileContents(file.string());
  if (!text.ok()) return text.status();
  absl::StatusOr<v1::ModelConfig> config = ParseModelConfig(*text, file.string());
  if (!config.ok()) return config.status();
  if (config->name() != dir.filename().string()) {
    return absl::InvalidArgumentError(absl::StrCat(file.string(), ": name '", config->name(),
                                                   "' must equal the folder name '", dir.filename().string(), "'"));
  }
  return config;
}

// The model of `dir` built as a load builds it, errors prefixed with its config file.
absl::StatusOr<std::unique_ptr<ServedModel>> CreateFromFolder(const fs::path& dir, const std::string& state_dir,
                                                              Metrics* metrics) {
  absl::StatusOr<v1::ModelConfig> config = ReadConfig(dir);
  if (!config.ok()) return config.status();
  absl::StatusOr<std::unique_ptr<ServedModel>> created = ServedModel::Create(*config, metrics, dir.string(), state_dir);
  if (!created.ok()) {
    return absl::Status(created.status().code(),
                        absl::StrCat((dir / "config.pbtxt").string(), ": ", created.status().message()));
  }
  return created;
}

constexpr base::EnumName<ModelState> kModelStateNames[] = {
    {ModelState::kUnloaded, "UNLOADED"}, {ModelState::kLoading, "LOADING"}, {ModelState::kReady, "READY"},
    {ModelState::kUnloading, "UNLOADING"}, {ModelState::kFailed, "FAILED"}};

}  // namespace

absl::StatusOr<std::string> CheckModelFolder(const std::string& dir) {
  std::error_code ec;
  fs::path folder = fs::absolute(dir, ec).lexically_normal();    // "." names its folder too.
  if (folder.filename().empty()) folder = folder.parent_path();  // "repo/sir/" names the folder "sir".
  Metrics metrics;
  absl::StatusOr<std::unique_ptr<ServedModel>> model = CreateFromFolder(folder, /*state_dir=*/"", &metrics);
  if (!model.ok()) return model.status();
  const absl::StatusOr<solvers::GradientAgreement> gradients = (*model)->CheckGradients();
  if (!gradients.ok()) {
    return absl::StrCat("model '", (*model)->name(), "' passes every load check; gradients not compared (",
                        gradients.status().message(), ")");
  }
  char worst[32];
  std::snprintf(worst, sizeof worst, "%.2e", gradients->worst_relative_error);
  return absl::StrCat("model '", (*model)->name(),
                      "' passes every load check; the gradient of a forecast by autograd against finite "
                      "differences (float64, ",
                      gradients->entries, " entries of θ and φ): worst relative error ", worst);
}

const char* ModelStateName(ModelState state) { return base::NameOf(kModelStateNames, state, "UNKNOWN"); }

ModelRegistry::ModelRegistry(Options options, Metrics* metrics) : options_(std::move(options)), metrics_(metrics) {}

ModelRegistry::~ModelRegistry() { UnloadAll(); }

absl::StatusOr<std::unique_ptr<ModelRegistry>> ModelRegistry::Open(const Options& options, Metrics* metrics) {
  std::error_code ec;
  if (!fs::is_directory(options.repository, ec)) {
    return absl::NotFoundError(absl::StrCat("model repository '", options.repository, "' is not a directory"));
  }
  auto registry = std::unique_ptr<ModelRegistry>(new ModelRegistry(options, metrics));
  const std::vector<std::string> present = registry->ScanRepository();
  if (metrics != nullptr) {
    for (const std::string& name : present) metrics->SetModelState(name, ModelStateName(ModelState::kUnloaded));
  }
  for (const std::string& name : options.load) {
    if (std::find(present.begin(), present.end(), name) == present.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("load: model repository '", options.repository, "' has no ", name, "/config.pbtxt"));
    }
    if (!options.shard.Owns(name)) return absl::InvalidArgumentError(absl::StrCat("load: ", registry->NotOwned(name)));
  }
  for (const std::string& name : options.load_all ? present : options.load) {
    if (!options.shard.Owns(name)) continue;
    if (absl::Status s = registry->Load(name); !s.ok()) {
      std::fprintf(stderr, "hybridserve: model '%s' failed to load: %s\n", name.c_str(), s.ToString().c_str());
    }
  }
  return registry;
}

std::string ModelRegistry::NotOwned(absl::string_view name) const {
  return absl::StrCat("model '", name, "' belongs to shard ", base::ShardOf(name, options_.shard.count), " of ",
                      options_.shard.count, "; this server is shard ", options_.shard.ToString());
}

std::string ModelRegistry::ModelDir(const std::string& name) const {
  return (fs::path(options_.repository) / name).string();
}

std::vector<std::string> ModelRegistry::ScanRepository() const {
  std::vector<std::string> names;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(options_.repository, ec)) {
    std::error_code exists_ec;
    if (entry.is_directory(exists_ec) && base::IsValidModelName(entry.path().filename().string()) &&
        fs::exists(entry.path() / "config.pbtxt", exists_ec)) {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool ModelRegistry::InRepository(absl::string_view name) const {
  if (!base::IsValidModelName(name)) return false;
  const std::vector<std::string> present = ScanRepository();
  return std::binary_search(present.begin(), present.end(), name);
}

absl::StatusOr<std::shared_ptr<ServedModel>> ModelRegistry::Find(absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) {
    if (InRepository(name)) {
      if (!options_.shard.Owns(name)) return absl::UnavailableError(NotOwned(name));
      return absl::UnavailableError(absl::StrCat("model '", name, "' is UNLOADED; LoadModel loads it"));
    }
    return absl::NotFoundError(absl::StrCat("model '", absl::CHexEscape(name), "' is not served"));
  }
  const ModelStatus& status = it->second;
  if (status.state != ModelState::kReady) {
    return absl::UnavailableError(absl::StrCat("model '", name, "' is ", ModelStateName(status.state),
                                               status.reason.empty() ? "" : ": ", status.reason));
  }
  return status.model;
}

std::vector<ModelStatus> ModelRegistry::List() const {
  const std::vector<std::string> present = ScanRepository();
  absl::MutexLock lock(&mu_);
  std::map<std::string, ModelStatus> all;
  for (const std::string& name : present) all[name].name = name;
  for (const auto& [name, status] : models_) all[name] = status;
  std::vector<ModelStatus> out;
  for (auto& [name, status] : all) out.push_back(std::move(status));
  return out;
}

std::optional<ModelState> ModelRegistry::StateOf(absl::string_view name) const {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = models_.find(name); it != models_.end()) return it->second.state;
  }
  if (InRepository(name)) return ModelState::kUnloaded;
  return std::nullopt;
}

absl::Status ModelRegistry::Load(const std::string& name) {
  // Only a folder the scan lists may become an entry: a name that merely
  // resolves to one (a NUL byte, "a/../b") never does.
  if (!InRepository(name)) {
    return absl::NotFoundError(
        absl::StrCat("model repository '", options_.repository, "' has no ", absl::CHexEscape(name), "/config.pbtxt"));
  }
  const fs::path dir = ModelDir(name);
  if (!options_.shard.Owns(name)) return absl::FailedPreconditionError(NotOwned(name));
  {
    absl::MutexLock lock(&mu_);
    ModelStatus& status = models_[name];
    status.name = name;
    if (status.state == ModelState::kReady) {
      return absl::AlreadyExistsError(absl::StrCat("model '", name, "' is already loaded; unload it first"));
    }
    if (status.state == ModelState::kLoading || status.state == ModelState::kUnloading) {
      return absl::UnavailableError(absl::StrCat("model '", name, "' is ", ModelStateName(status.state)));
    }
    SetState(status, ModelState::kLoading);
    status.reason.clear();
  }
  // The slow part (building the model, replaying its log) runs unlocked.
  const std::string state_dir =
      (fs::path(options_.state_root.empty() ? options_.repository : options_.state_root) / name).string();
  absl::StatusOr<std::unique_ptr<ServedModel>> model = CreateFromFolder(dir, state_dir, metrics_);
  absl::MutexLock lock(&mu_);
  ModelStatus& status = models_[name];
  if (!model.ok()) {
    SetState(status, ModelState::kFailed);
    status.reason = std::string(model.status().message());
    return model.status();
  }
  SetState(status, ModelState::kReady);
  status.model = *std::move(model);
  return absl::OkStatus();
}

void ModelRegistry::SetState(ModelStatus& status, ModelState state) {
  status.state = state;
  if (metrics_ != nullptr) metrics_->SetModelState(status.name, ModelStateName(state));
}

absl::Status ModelRegistry::Unload(const std::string& name) {
  std::shared_ptr<ServedModel> model;
  {
    absl::MutexLock lock(&mu_);
    auto it = models_.find(name);
    if (it == models_.end()) return absl::NotFoundError(absl::StrCat("model '", name, "' is not served"));
    if (it->second.state != ModelState::kReady) {
      return absl::FailedPreconditionError(
          absl::StrCat("model '", name, "' is ", ModelStateName(it->second.state), ", not READY"));
    }
    SetState(it->second, ModelState::kUnloading);
    model = std::move(it->second.model);
  }
  model->Stop();  // Drains its queue and checkpoints; Predicts holding it still finish.
  absl::MutexLock lock(&mu_);
  SetState(models_[name], ModelState::kUnloaded);
  return absl::OkStatus();
}

void ModelRegistry::UnloadAll() {
  std::vector<std::string> ready;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, status] : models_) {
      if (status.state == ModelState::kReady) ready.push_back(name);
    }
  }
  for (const std::string& name : ready) (void)Unload(name);
}

}  // namespace hybrid::server
