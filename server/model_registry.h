// ModelRegistry: the models a server hosts, loaded from a model repository.
//
// Repository layout (after Triton): <repository>/<model>/config.pbtxt, a
// text-format hybrid.v1.ModelConfig whose `name` equals the folder name.
//
//   absl::StatusOr<std::unique_ptr<ModelRegistry>> r = ModelRegistry::Load("deploy/model_repository", &metrics);
//   absl::StatusOr<ServedModel*> m = (*r)->Find("lorenz63");   // NOT_FOUND names the model
//
// The set of models is fixed after Load, so lookups need no lock; the models
// themselves are thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/metrics.h"
#include "server/served_model.h"

namespace hybrid::server {

class ModelRegistry {
 public:
  // Loads every folder of `repository` holding a config.pbtxt. Any bad config
  // fails the whole load (INVALID_ARGUMENT naming the file and field);
  // NOT_FOUND when the folder does not exist or holds no model.
  static absl::StatusOr<std::unique_ptr<ModelRegistry>> Load(const std::string& repository, Metrics* metrics);

  absl::StatusOr<ServedModel*> Find(absl::string_view name) const;
  std::vector<const ServedModel*> List() const;

 private:
  std::map<std::string, std::unique_ptr<ServedModel>, std::less<>> models_;
};

}  // namespace hybrid::server
