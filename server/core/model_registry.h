// ModelRegistry: the models of a model repository and their lifecycle.
//
// Repository layout (after Triton): <repository>/<model>/config.pbtxt, a
// text-format hybrid.v1.ModelConfig whose `name` equals the folder name. A
// model's durable state (write-ahead log, version folders of checkpoints) is
// kept in <state root>/<model>/; the state root defaults to the repository.
//
//   ModelRegistry::Options options;
//   options.repository = "deploy/model_repository";
//   auto r = ModelRegistry::Open(options, &metrics);
//   absl::StatusOr<std::shared_ptr<ServedModel>> m = (*r)->Find("lorenz63");
//   (*r)->Unload("lorenz63");   // drains, checkpoints; blocks until done
//   (*r)->Load("lorenz63");     // re-reads config.pbtxt, resumes from the checkpoint + log
//
// A model that fails to load (bad config, corrupt state, a plugin that does not
// load) is FAILED with the reason — naming the file and field — and does not
// stop the others. States: UNLOADED → LOADING → READY → UNLOADING → UNLOADED;
// LOADING → FAILED (Load may be retried). Thread-safe; Load and Unload block
// the caller for the model's start-up or drain, never the registry's lock.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "base/model_shard.h"
#include "server/core/metrics.h"
#include "server/core/served_model.h"

namespace hybrid::server {

enum class ModelState { kUnloaded, kLoading, kReady, kUnloading, kFailed };
const char* ModelStateName(ModelState state);

// Builds the model of the folder `dir` as a load does — config.pbtxt read and
// validated, its name against the folder's, every load check run (TorchScript
// modules probed, plugins opened, the config's checkpoint read) — then drops
// it, keeping no state and serving nothing (`hybridserve --check_model`,
// python/hybridserve_model's check), and compares its gradients with finite
// differences (ServedModel::CheckGradients). A report naming the model and
// the worst relative error, or the error a load would give the model as its
// FAILED reason.
absl::StatusOr<std::string> CheckModelFolder(const std::string& dir);

struct ModelStatus {
  std::string name;
  ModelState state = ModelState::kUnloaded;
  std::string reason;                  // Why it FAILED.
  std::shared_ptr<ServedModel> model;  // Set when READY.
};

class ModelRegistry {
 public:
  struct Options {
    std::string repository;
    std::string state_root{};  // Empty: the repository.
    // Models loaded by Open: all of the repository's, or only those named.
    bool load_all = true;
    std::vector<std::string> load{};
    // The models this replica may load (base/model_shard.h); the default owns all.
    base::Shard shard{};
  };

  // NOT_FOUND when the repository is not a folder; INVALID_ARGUMENT for a name
  // in `load` that the repository lacks or another shard owns. With load_all,
  // only the shard's models load. Model failures are states, not errors.
  static absl::StatusOr<std::unique_ptr<ModelRegistry>> Open(const Options& options, Metrics* metrics);
  ~ModelRegistry();  // UnloadAll.

  // NOT_FOUND for a name the registry does not know; UNAVAILABLE (with the
  // state and reason) for one that is not READY.
  absl::StatusOr<std::shared_ptr<ServedModel>> Find(absl::string_view name) const;
  // Every model of the repository (re-scanned) and every loaded one, by name.
  std::vector<ModelStatus> List() const;
  // The state of one model; nullopt for a name the repository lacks.
  std::optional<ModelState> StateOf(absl::string_view name) const;
  // NOT_FOUND when <repository>/<name>/config.pbtxt does not exist;
  // FAILED_PRECONDITION naming the owner when another shard owns it (two
  // replicas calibrating one model would fork its state); ALREADY_EXISTS when
  // READY; UNAVAILABLE while LOADING or UNLOADING; the load error otherwise
  // (the model is then FAILED with it).
  absl::Status Load(const std::string& name);
  // NOT_FOUND / FAILED_PRECONDITION when not READY.
  absl::Status Unload(const std::string& name);
  void UnloadAll();

 private:
  ModelRegistry(Options options, Metrics* metrics);
  // The repository's folders that hold a config.pbtxt and are valid model
  // names (base/model_name.h), sorted; other folders are not models.
  std::vector<std::string> ScanRepository() const;
  bool InRepository(absl::string_view name) const;
  std::string ModelDir(const std::string& name) const;
  // "model 'x' belongs to shard J of N; this server is shard K/N".
  std::string NotOwned(absl::string_view name) const;
  // Moves `status` (an entry of models_) to `state` and exports it as hybrid_model_state.
  void SetState(ModelStatus& status, ModelState state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  Metrics* const metrics_;
  mutable absl::Mutex mu_;
  std::map<std::string, ModelStatus, std::less<>> models_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hybrid::server
